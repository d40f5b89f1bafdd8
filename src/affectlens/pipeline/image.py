"""Stateless image analysis. Each stage is a public method; :meth:`Analyzer.analyze` chains them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np

from affectlens.align import crop_whole_image, warp_face
from affectlens.detect import create_detector
from affectlens.detect.yunet import SHRINK_GAP
from affectlens.io.image import InputError, array_to_rgb, load_image, to_rgb_array
from affectlens.models.expression import load_expression_model
from affectlens.models.runtime import shared_pool
from affectlens.models.uncertainty import assess_faces
from affectlens.options import Options
from affectlens.types import ActionUnits, Affect, Expression, Face, FaceResult, HeadPose, ImageResult, as_mesh

#: Side of the colour face crop that explanation heatmaps are drawn on.
EXPLAIN_SIDE = 192
#: Longest side the face detector sees in photos (larger photos are downscaled for it), unless
#: ``Options.detection.size`` says otherwise.
PHOTO_DETECT_MAX_SIDE = 1280
#: The smallest face (box side, pixels) the detector is asked to find in its own input: a photo
#: is shown to it at ``DETECT_MIN_FACE / min_face`` of its size when that is smaller (a larger
#: ``--min-face`` lets it work on a smaller image), never below the detector's minimum side.
#: With the default ``min_face`` (20) the factor is 1, so the default run is unchanged.
DETECT_MIN_FACE = 20
#: onnxruntime threads of the expression model for photos.
PHOTO_THREADS = 2

#: Photos with at least this many faces fit their meshes on the threads of
#: :func:`~affectlens.models.runtime.shared_pool` (the mesh session is thread-safe).
MESH_POOL_FROM = 4

log = logging.getLogger("affectlens")


class Analyzer:
    """Detect → align → classify for single images. Holds models, no per-image state.

    Reads the ``detection`` and ``face`` stages of the options tree; ``threads`` are the
    expression model's onnxruntime threads.
    """

    def __init__(self, options: Options | None = None, threads: int = PHOTO_THREADS):
        self.options = options or Options()
        det, face = self.options.detection, self.options.face
        self.model = load_expression_model(face.model, threads)
        self.detector = None
        if det.crop_mode == "detect":
            self.detector = create_detector(
                det.detector, score_threshold=det.threshold, max_side=det.size or PHOTO_DETECT_MAX_SIDE
            )
        self.face_mesh = _load_mesh(face.mesh)

    # -- stages -------------------------------------------------------------------------
    def detect(self, rgb: np.ndarray) -> tuple[list[Face], int]:
        """Faces at least ``min_face`` pixels large, and how many smaller ones were skipped."""
        if self.detector is None:
            h, w = rgb.shape[:2]
            return [Face(box=(0.0, 0.0, float(w), float(h)), score=1.0, landmarks=())], 0
        faces = self._detect_matched(rgb)
        kept = [f for f in faces if f.size >= self.options.detection.min_face]
        return kept, len(faces) - len(kept)

    def _detect_matched(self, rgb: np.ndarray) -> list[Face]:
        """Detect on the photo shrunk as far as the smallest face wanted allows (see
        :data:`DETECT_MIN_FACE`); boxes and landmarks in original pixels."""
        det = self.options.detection
        h, w = rgb.shape[:2]
        longest = max(h, w)
        side = min(self.detector.max_side, longest * DETECT_MIN_FACE / max(det.min_face, 1))
        side = max(side, self.detector.min_side)
        if det.size is not None or side >= min(longest, self.detector.max_side):
            return self.detector.detect(rgb)
        from PIL import Image

        k = side / longest
        size = (max(1, round(w * k)), max(1, round(h * k)))
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR, reducing_gap=SHRINK_GAP))
        return [
            Face(
                box=tuple(v / k for v in f.box),
                score=f.score,
                landmarks=tuple((x / k, y / k) for x, y in f.landmarks),
            )
            for f in self.detector.detect(small)
        ]

    def align(self, rgb: np.ndarray, faces: list[Face]) -> np.ndarray:
        """Model-ready uint8 crops, one per face."""
        cfg = self.model.cfg
        if self.detector is None:
            return np.stack([crop_whole_image(rgb, cfg.input_size, cfg.colour)])
        crops = [warp_face(rgb, f.landmark_array(), cfg.template, cfg.input_size, cfg.colour)[0] for f in faces]
        channels = () if cfg.colour == "gray" else (3,)
        return np.stack(crops) if crops else np.zeros((0, cfg.input_size, cfg.input_size, *channels), np.uint8)

    def classify(self, crops: np.ndarray) -> np.ndarray:
        """Probabilities (N, K) over the model's labels."""
        return self.model.predict(crops)

    def logits(self, crops: np.ndarray) -> np.ndarray:
        """Raw logits (N, K); ``classify`` is ``model.postprocess`` of these."""
        return self.model.forward(self.model.preprocess(crops))

    def assess(
        self, faces: list[Face], crops: np.ndarray, logits: np.ndarray, probs=None, signals=None
    ) -> list[Affect]:
        """Valence/arousal, confidence, ``uncertain`` + reasons and compound label per face."""
        return assess_faces(self.model, faces, crops, logits, probs, signals)

    def explain(self, image, source: str | None = None, patch: int | None = None, stride: int | None = None) -> list:
        """Occlusion-sensitivity :class:`~affectlens.models.explain.Explanation` per detected face.

        Each ``heat`` is (S, S) over the face's aligned crop (the model's input); see
        :func:`explain_overlay` for a picture.
        """
        from affectlens.models.explain import occlusion_sensitivity

        _, rgb = as_rgb(image, source)
        faces, _ = self.detect(rgb)
        crops = self.align(rgb, faces)
        return [occlusion_sensitivity(self.model, c, patch, stride) for c in crops]

    def explain_overlay(self, rgb: np.ndarray, face: Face, heat: np.ndarray):
        """PIL image: the face aligned like the model's crop, in colour at 192 px, with ``heat`` in red."""
        from affectlens.models.explain import overlay

        cfg = self.model.cfg
        if self.detector is None or len(face.landmarks) != 5:
            crop = crop_whole_image(rgb, EXPLAIN_SIDE, "rgb")
        else:
            scale = EXPLAIN_SIDE / cfg.input_size
            template = [(x * scale, y * scale) for x, y in cfg.template]
            crop = warp_face(rgb, face.landmark_array(), template, EXPLAIN_SIDE, "rgb")[0]
        return overlay(crop, heat)

    def mesh(self, rgb: np.ndarray, faces: list[Face], priors: list | None = None) -> list[np.ndarray]:
        """468x3 face-mesh points per face in original pixels; ``(0, 3)`` when the mesh is off
        or cannot fit the face. ``priors``: per face, the same person's previous mesh or None
        (video; see :meth:`~affectlens.models.landmarks.FaceMesh.run`)."""
        if self.face_mesh is None:
            return [np.zeros((0, 3)) for _ in faces]
        priors = priors or [None] * len(faces)
        if len(faces) < MESH_POOL_FROM:
            return [self.face_mesh.run(rgb, f, p).points for f, p in zip(faces, priors)]
        return list(shared_pool().map(lambda fp: self.face_mesh.run(rgb, *fp).points, zip(faces, priors)))

    # -- the convenience call ----------------------------------------------------------
    def analyze(self, image, source: str | None = None) -> ImageResult:
        """Analyse a path, a PIL image or an RGB numpy array."""
        name, rgb = as_rgb(image, source)
        faces, skipped = self.detect(rgb)
        crops = self.align(rgb, faces)
        logits = self.logits(crops)
        probs = self.model.postprocess(logits, crops)
        affects = self.assess(faces, crops, logits, probs)
        meshes = self.mesh(rgb, faces)
        labels = self.model.labels
        results = []
        for i, (f, p, a, pts) in enumerate(zip(faces, probs, affects, meshes)):
            expr = Expression(labels, tuple(float(v) for v in p))
            pose, aus, why = describe_face(pts, expr.top, self.face_mesh is not None)
            results.append(
                FaceResult(
                    index=i, face=f, expression=expr, affect=a, mesh=as_mesh(pts), pose=pose, aus=aus, rationale=why
                )
            )
        return ImageResult(
            source=name,
            width=int(rgb.shape[1]),
            height=int(rgb.shape[0]),
            faces=tuple(results),
            skipped_small=skipped,
            model=self.model.cfg.name,
            crop_mode=self.options.detection.crop_mode,
        )


def _load_mesh(mode: str):
    if mode == "off":
        return None
    from affectlens.models.landmarks import FaceMesh

    try:
        return FaceMesh(threads=1)
    except ImportError as exc:
        if mode == "on":
            raise
        log.info("no face mesh (pose, action units, rationale stay empty): %s", exc)
        return None


def describe_face(
    points: np.ndarray, expression: str, enabled: bool = True, neutral: np.ndarray | None = None
) -> tuple[HeadPose, ActionUnits, str]:
    """Head pose, action units and the AU rationale of one face from its mesh points.

    ``enabled=False`` (no face mesh) gives NaN pose, no action units and no rationale; a mesh
    that could not fit (``points`` empty) gives NaN pose and NaN action units, and a rationale
    that says so. ``neutral``: a per-person raw baseline (see
    :class:`~affectlens.models.action_units.NeutralBaseline`).
    """
    if not enabled:
        return HeadPose(), ActionUnits(), ""
    from affectlens.models import action_units
    from affectlens.models.landmarks import head_pose

    yaw, pitch, roll = head_pose(points)
    aus = action_units.estimate(points, neutral)
    return HeadPose(yaw, pitch, roll), aus, action_units.rationale(aus, expression)


def as_rgb(image, source: str | None = None) -> tuple[str, np.ndarray]:
    """(name, RGB uint8 array) for a path, PIL image or numpy array."""
    if isinstance(image, (str, os.PathLike)):
        loaded = load_image(image)
        return source or loaded.source, loaded.pixels
    if isinstance(image, np.ndarray):
        name = source or "<array>"
        return name, array_to_rgb(image, name)
    try:
        from PIL import Image, ImageOps
    except ImportError:  # pragma: no cover
        Image = None
    if Image is not None and isinstance(image, Image.Image):
        return source or getattr(image, "filename", "") or "<PIL image>", to_rgb_array(ImageOps.exif_transpose(image))
    raise InputError(f"{source or type(image).__name__}: expected a path, a PIL image or a numpy array")


def image_analyzer(options: Options, threads: int = PHOTO_THREADS) -> Analyzer:
    """The :class:`Analyzer` for these options, made once (keyed by the stages it reads) in the
    registry's one cache (:func:`affectlens.registry.clear_cache` forgets it)."""
    from affectlens.registry import cached

    det, face = options.detection, options.face
    return cached(("image-analyzer", det, face, threads), lambda: Analyzer(Options(detection=det, face=face), threads))


def analyze(image, options: Options | None = None, **flat) -> ImageResult:
    """Analyse one image (path, PIL image or RGB array) and return its frozen result.

    ``options`` is the run's :class:`~affectlens.options.Options`; keyword arguments change
    fields by flag name, e.g. ``analyze(img, crop_mode="face")`` (see ``Options.replace``).
    """
    options = (options or Options()).replace(**flat) if flat else (options or Options())
    source = str(image) if isinstance(image, (str, Path)) else None
    return image_analyzer(options).analyze(image, source)
