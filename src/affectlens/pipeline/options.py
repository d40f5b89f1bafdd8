"""Options for image analysis, validated at construction."""

from __future__ import annotations

from dataclasses import dataclass

CROP_MODES = ("detect", "face")
LANDMARK_MODES = ("auto", "on", "off")


@dataclass(frozen=True)
class AnalyzeOptions:
    """How to analyse images.

    - ``model``: registered expression model name (None = the default model).
    - ``crop_mode``: ``detect`` finds faces; ``face`` treats each image as one cropped face.
    - ``min_face``: faces whose box is smaller than this many pixels (shorter side) are skipped
      and counted in ``ImageResult.skipped_small``.
    - ``detector``, ``score_threshold``, ``detect_max_side``: face detector, its confidence
      threshold and the longest image side it sees (larger images are downscaled for detection).
    - ``threads``: onnxruntime intra-op threads.
    - ``landmarks``: the face mesh → head pose, action units and rationale per face. ``auto``
      (default) and ``on`` use it (the mesh ships with the package; ``auto`` goes on without it,
      ``on`` raises, if its weights file is missing), ``off`` skips it (those fields stay empty / NaN).
    """

    model: str | None = None
    crop_mode: str = "detect"
    min_face: int = 20
    detector: str = "yunet"
    score_threshold: float = 0.7
    detect_max_side: int = 1280
    threads: int = 2
    landmarks: str = "auto"

    def __post_init__(self) -> None:
        if self.crop_mode not in CROP_MODES:
            raise ValueError(f"crop_mode {self.crop_mode!r} is not valid; valid: {', '.join(CROP_MODES)}")
        if self.min_face < 0:
            raise ValueError(f"min_face must be >= 0 pixels, got {self.min_face}")
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {self.score_threshold}")
        if self.threads < 1:
            raise ValueError(f"threads must be >= 1, got {self.threads}")
        if self.landmarks not in LANDMARK_MODES:
            raise ValueError(f"landmarks {self.landmarks!r} is not valid; valid: {', '.join(LANDMARK_MODES)}")
        if self.detect_max_side < 320:
            raise ValueError(f"detect_max_side must be >= 320 pixels, got {self.detect_max_side}")
