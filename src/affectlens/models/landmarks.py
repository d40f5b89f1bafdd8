"""Dense face landmarks (468-point face mesh) and head pose, staged: roi → crop → forward → project.

The model is Google's MediaPipe face mesh (``face_landmark.tflite``, Apache-2.0, 2.4 MB),
converted once to ONNX and shipped inside the package (``weights/face-mesh/``, with its LICENSE
and a NOTICE); it runs on onnxruntime like every other model, so a plain ``pip install`` has it.
The conversion is exact to float rounding (``python benchmarks/face_mesh_onnx.py`` compares it
with the original on LiteRT; ``--convert`` regenerates it).

Stages, each usable alone:

1. :func:`mesh_roi` — a square region around a detected face (box centre, 1.5x the box's
   longer side, rotated so the eyes are level), as a 2x3 matrix from image to crop pixels.
2. :func:`mesh_crop` — the 192x192 RGB crop in [0, 1].
3. :meth:`FaceMesh.forward` — 468 ``(x, y, z)`` points in crop pixels and a face score.
4. :func:`project` — the points back in original image pixels (``z`` in the same pixel scale,
   larger = farther from the camera, 0 near the head's centre).

:meth:`FaceMesh.run` chains them and refines once: a second pass uses the region given by the
first pass's points (as MediaPipe does between video frames), which makes the mesh depend less
on the detector's box. :func:`head_pose` turns the 3D points into yaw, pitch and roll (degrees,
conventions in :mod:`affectlens.types`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from affectlens.align.warp import invert_affine, to_colour, warp_window
from affectlens.types import Face

MESH_POINTS = 468
MESH_INPUT = 192
ROI_SCALE = 1.5
#: Minimum face score (sigmoid of the model's face flag) for the mesh to be reported.
MIN_MESH_SCORE = 0.5
#: Degrees added to the measured pitch so a face looking into the camera reads 0: the
#: forehead-chin line of the mesh leans back; this is minus the median measured pitch of FER+
#: train faces labelled neutral (``python benchmarks/au_validity.py --fit``).
PITCH_ZERO = 10.8
WEIGHTS = ("face-mesh", "face_landmark.onnx")

# Named mesh points (MediaPipe topology). "r_" = the subject's right (on the image's left).
IDX = {
    "forehead": 10,
    "chin": 152,
    "nose_tip": 1,
    "nose_bridge": 168,
    "r_eye_outer": 33,
    "r_eye_inner": 133,
    "l_eye_inner": 362,
    "l_eye_outer": 263,
    "r_face_edge": 234,
    "l_face_edge": 454,
}


@dataclass(frozen=True)
class MeshResult:
    """The face mesh of one face: ``points`` (468, 3) in original pixels, and the model's score."""

    points: np.ndarray
    score: float


def weights_path() -> Path:
    """Path of the packaged face mesh, ``affectlens/weights/face-mesh/face_landmark.onnx``."""
    return Path(str(resources.files("affectlens").joinpath("weights", *WEIGHTS)))


def to_input(crop: np.ndarray) -> np.ndarray:
    """A (192, 192, 3) crop in [0, 1] as the model's (1, 3, 192, 192) float32 input."""
    return np.ascontiguousarray(np.asarray(crop, dtype=np.float32).transpose(2, 0, 1)[None])


def mesh_roi(face: Face) -> np.ndarray:
    """2x3 matrix from image pixels to the 192x192 mesh crop for a detected face.

    Centre: the box centre; side: ``ROI_SCALE`` times the box's longer side; rotation: the
    angle of the line through the two eyes (when the face has five landmarks).
    """
    x, y, w, h = face.box
    centre = np.array([x + w / 2.0, y + h / 2.0])
    angle = 0.0
    pts = face.landmark_array()
    if len(pts) >= 2:
        d = pts[1] - pts[0]
        angle = math.atan2(d[1], d[0])
    return _roi_matrix(centre, ROI_SCALE * max(w, h), angle)


def refine_roi(points: np.ndarray) -> np.ndarray:
    """2x3 matrix for a second pass, from a first pass's mesh points (in image pixels)."""
    xy = points[:, :2]
    d = xy[IDX["l_eye_outer"]] - xy[IDX["r_eye_outer"]]
    angle = math.atan2(d[1], d[0])
    c, s = math.cos(-angle), math.sin(-angle)
    rot = xy @ np.array([[c, s], [-s, c]])  # points in the face's upright frame
    lo, hi = rot.min(0), rot.max(0)
    centre_rot = (lo + hi) / 2.0
    centre = centre_rot @ np.array([[c, -s], [s, c]])
    return _roi_matrix(centre, ROI_SCALE * float(max(hi - lo)), angle)


def _roi_matrix(centre: np.ndarray, side: float, angle: float) -> np.ndarray:
    side = max(side, 1.0)
    k = MESH_INPUT / side
    c, s = math.cos(angle), math.sin(angle)
    a = k * np.array([[c, s], [-s, c]])  # rotate by -angle, then scale
    t = MESH_INPUT / 2.0 - a @ centre
    return np.hstack([a, t[:, None]])


def mesh_crop(rgb: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The (192, 192, 3) float32 crop in [0, 1] that ``m`` maps the image onto (black outside;
    :func:`~affectlens.align.warp.warp_window`: only the window the crop reads is warped, and a
    large face is box-reduced before it is warped)."""
    return to_colour(warp_window(rgb, m, MESH_INPUT, reduce_first=True), "rgb").astype(np.float32) / 255.0


def project(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Crop-pixel ``(x, y, z)`` points → original image pixels (``z`` scaled like x and y)."""
    inv = invert_affine(m)
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    xy = points[:, :2] @ inv[:, :2].T + inv[:, 2]
    return np.column_stack([xy, points[:, 2] / scale])


class FaceMesh:
    """The 468-point face mesh on onnxruntime (thread-safe: one session, no per-call state)."""

    def __init__(self, threads: int = 1, refine: bool = True):
        from affectlens.models.runtime import onnx_session

        path = weights_path()
        if not path.is_file():
            raise ImportError(f"the face mesh weights are missing ({path}); reinstall affectlens")
        self.refine = refine
        self.session = onnx_session(path, threads)
        self.input = "crop"
        self.outputs = ["landmarks", "face_flag"]

    def forward(self, crop: np.ndarray) -> tuple[np.ndarray, float]:
        """(468, 3) points in crop pixels and the face score in [0, 1] for one 192x192 crop."""
        pts, flag = self.session.run(self.outputs, {self.input: to_input(crop)})
        flag = float(flag.ravel()[0])
        return pts.reshape(MESH_POINTS, 3).astype(np.float64), 1.0 / (1.0 + math.exp(-flag))

    def run(self, rgb: np.ndarray, face: Face, prior: np.ndarray | None = None) -> MeshResult:
        """The mesh of ``face`` in ``rgb`` (original pixels); ``points`` is empty when the score
        is below :data:`MIN_MESH_SCORE` (not a face the model can fit, e.g. a profile).

        ``prior``: the same person's mesh in the previous video frame. When it still lies on the
        face's box, one pass in the region it gives replaces the two passes (as MediaPipe tracks
        meshes between frames); otherwise, or if that pass fails, the two passes run.
        """
        if prior is not None and len(prior) == MESH_POINTS and _on_box(prior, face):
            m = refine_roi(prior)
            pts, score = self.forward(mesh_crop(rgb, m))
            if score >= MIN_MESH_SCORE:
                return MeshResult(points=project(pts, m), score=score)
        m = mesh_roi(face)
        pts, score = self.forward(mesh_crop(rgb, m))
        points = project(pts, m)
        if self.refine and score >= MIN_MESH_SCORE:
            m2 = refine_roi(points)
            pts2, score2 = self.forward(mesh_crop(rgb, m2))
            if score2 >= MIN_MESH_SCORE:
                points, score = project(pts2, m2), score2
        if score < MIN_MESH_SCORE:
            return MeshResult(points=np.zeros((0, 3)), score=score)
        return MeshResult(points=points, score=score)

    def follow(self, rgb: np.ndarray, prior: np.ndarray) -> MeshResult:
        """One pass in the region the same face's previous mesh gives (MediaPipe's tracking step,
        no detector box): ``points`` empty when the score drops below :data:`MIN_MESH_SCORE`
        (the face was lost: turned away, covered, left the frame)."""
        m = refine_roi(prior)
        pts, score = self.forward(mesh_crop(rgb, m))
        if score < MIN_MESH_SCORE:
            return MeshResult(points=np.zeros((0, 3)), score=score)
        return MeshResult(points=project(pts, m), score=score)


def _on_box(points: np.ndarray, face: Face) -> bool:
    """Whether a previous mesh still matches a detected box: centre inside it, size within 25 %."""
    x, y, w, h = face.box
    cx, cy = points[:, 0].mean(), points[:, 1].mean()
    span = float(np.ptp(points[:, 0]))
    return x <= cx <= x + w and y <= cy <= y + h and 0.75 * w <= span <= 1.25 * w


def face_axes(points: np.ndarray) -> np.ndarray:
    """3x3 rotation whose columns are the face's right, down and backward axes in camera space.

    Camera space: x to the image's right, y down, z away from the camera (the mesh's z).
    Right axis: from the subject's right outer eye corner to the left one; down axis: from the
    forehead point to the chin, made orthogonal to the right axis; backward = right x down.
    """
    p = np.asarray(points, dtype=np.float64)
    x = p[IDX["l_eye_outer"]] - p[IDX["r_eye_outer"]]
    x /= np.linalg.norm(x)
    down = p[IDX["chin"]] - p[IDX["forehead"]]
    y = down - (down @ x) * x
    y /= np.linalg.norm(y)
    return np.column_stack([x, y, np.cross(x, y)])


def head_pose(points: np.ndarray) -> tuple[float, float, float]:
    """(yaw, pitch, roll) in degrees from 3D mesh points (conventions in :mod:`affectlens.types`)."""
    if len(points) < MESH_POINTS:
        return (math.nan, math.nan, math.nan)
    r = face_axes(points)
    n = -r[:, 2]  # the direction the face points to (toward the camera when frontal)
    yaw = math.degrees(math.atan2(n[0], -n[2]))
    pitch = math.degrees(math.atan2(-n[1], math.hypot(n[0], n[2]))) + PITCH_ZERO
    roll = math.degrees(math.atan2(r[1, 0], r[0, 0]))
    return (yaw, pitch, roll)
