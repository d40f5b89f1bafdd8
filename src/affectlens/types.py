"""Frozen result types and the unit conventions, written down once.

Conventions:
- Pixel coordinates are in the original image, after EXIF orientation is applied; the origin
  is the top-left corner; boxes are ``(x, y, w, h)``.
- Landmarks are five ``(x, y)`` points in this order: the eye on the image's left, the eye on
  the image's right, the nose tip, the mouth corner on the image's left, the mouth corner on
  the image's right.
- Probabilities are floats in [0, 1] that sum to 1 over a model's labels.
- Dense landmarks (the face mesh) are ``(x, y, z)`` points: ``x, y`` in original pixels, ``z``
  depth in the same pixel scale, larger = farther from the camera.
- Head pose is in degrees, 0/0/0 for a face looking straight into the camera: ``yaw`` > 0 when
  the face turns toward the image's right (the subject's left), ``pitch`` > 0 when it tilts up,
  ``roll`` > 0 when the line from the image-left eye to the image-right eye slopes downward on
  the image (a clockwise tilt as seen). NaN when not measured.
- Action units use FACS names (``AU12``) and intensities in [0, 1] (0 = a typical neutral face,
  1 = strong; see :mod:`affectlens.models.action_units`); NaN when not measured. Tables name
  them ``au01 … au43``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]
Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    """A detected face: where it is and how sure the detector is."""

    box: Box
    score: float
    landmarks: tuple[Point, ...]

    @property
    def size(self) -> float:
        """The face's size in pixels: the shorter side of its box."""
        return float(min(self.box[2], self.box[3]))

    def landmark_array(self) -> np.ndarray:
        return np.asarray(self.landmarks, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class Expression:
    """A model's answer for one face: probabilities over its labels, top label first."""

    labels: tuple[str, ...]
    probs: tuple[float, ...]

    @property
    def top(self) -> str:
        return self.labels[int(np.argmax(self.probs))]

    @property
    def top_prob(self) -> float:
        return float(max(self.probs))

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.labels, self.probs))


NAN = float("nan")


def no_mesh() -> np.ndarray:
    """The empty (0, 3) mesh of a face without one."""
    return as_mesh(np.zeros((0, 3)))


def as_mesh(points) -> np.ndarray:
    """Mesh points as the read-only float32 (N, 3) array stored in results."""
    arr = np.array(points, dtype=np.float32).reshape(-1, 3)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class HeadPose:
    """Yaw, pitch and roll in degrees (conventions above); NaN when not measured."""

    yaw: float = NAN
    pitch: float = NAN
    roll: float = NAN


@dataclass(frozen=True)
class ActionUnits:
    """FACS action-unit intensities in [0, 1] (``values``) and the geometric measures they come
    from (``raw``: inter-ocular distances; eye-width ratios for AU5 and AU43), one per name; empty
    when not computed."""

    names: tuple[str, ...] = ()
    values: tuple[float, ...] = ()
    raw: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values))

    def get(self, name: str) -> float:
        """The intensity of ``name`` (e.g. ``"AU12"``), NaN when not estimated."""
        return self.as_dict().get(name, NAN)


@dataclass(frozen=True)
class FaceResult:
    """One face of one image: where (``face``) and what expression (``expression``).

    ``mesh`` (a read-only float32 array of 468 ``(x, y, z)`` points, shape (0, 3) when absent),
    ``pose``, ``aus`` and ``rationale`` come from the face mesh (``AnalyzeOptions(landmarks=...)``);
    empty / NaN when it is off or cannot fit.
    """

    index: int
    face: Face
    expression: Expression
    mesh: np.ndarray = field(default_factory=lambda: no_mesh(), compare=False, repr=False)
    pose: HeadPose = HeadPose()
    aus: ActionUnits = ActionUnits()
    rationale: str = ""


@dataclass(frozen=True)
class ImageResult:
    """Everything found in one image. ``faces`` is empty (never ``None``) when there is none."""

    source: str
    width: int
    height: int
    faces: tuple[FaceResult, ...] = ()
    skipped_small: int = 0  # faces found but smaller than the minimum face size
    model: str = ""
    crop_mode: str = "detect"
    extra: dict = field(default_factory=dict, compare=False)


# -- video ------------------------------------------------------------------------------------
# Times are milliseconds from the start of the file (the container's presentation time), so
# variable frame rates keep true times. ``track`` ids start at 0, are unique within one video
# and never shared by two faces of the same frame.


@dataclass(frozen=True)
class TrackedFace:
    """One face of one video frame: its track, the smoothed ``expression`` and the ``raw`` one."""

    index: int
    track: int
    face: Face
    expression: Expression  # after temporal smoothing (equal to ``raw`` with smoothing "none")
    raw: Expression  # the model's answer for this frame alone
    mesh: np.ndarray = field(default_factory=lambda: no_mesh(), compare=False, repr=False)  # as in FaceResult
    pose: HeadPose = HeadPose()
    aus: ActionUnits = ActionUnits()  # per-track neutral baseline applied when enabled
    rationale: str = ""


@dataclass(frozen=True)
class FrameResult:
    """Everything found in one analysed video frame. ``faces`` is empty when there is none."""

    source: str
    frame: int  # the frame's number in the video stream (0 = first frame)
    time_ms: float
    width: int
    height: int
    faces: tuple[TrackedFace, ...] = ()
    skipped_small: int = 0
    model: str = ""


@dataclass(frozen=True)
class Segment:
    """A stretch of one track during which one expression (smoothed) was on top."""

    expression: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class TrackSummary:
    """One track over a whole video."""

    source: str
    track: int
    first_ms: float
    last_ms: float
    frames: int  # analysed frames in which the track was seen
    mean_probs: tuple[tuple[str, float], ...]  # (label, mean smoothed probability), model order
    dominant: str  # label with the highest mean probability
    segments: tuple[Segment, ...] = ()
