"""Finding the faces of each video frame: the detector, or the face mesh following them between detections.

A :class:`Follower` runs in frame order. On a *detection frame* the faces are the detector's
(exactly as when every frame is detected) and each gets its mesh, starting from the mesh of
the same face in the previous frame. In between, each face is *followed*: one mesh pass in the
region its previous mesh gives (as MediaPipe's face-mesh pipelines track faces), and the face's
box and five landmarks are carried from the last detection in the mesh's own frame of
reference (position, size and roll), so the classifier sees the crop the detector's landmarks
would give. A frame is a detection frame when:

- its number (counted from the first analysed frame) is a multiple of ``detect_every``
  (new faces are looked for that often);
- it comes more than :data:`MAX_GAP_MS` after the previous frame (at low analysed frame rates
  faces move too far between frames to be followed, and crossing faces could swap);
- no face is being followed, or a shot cut was seen;
- a followed face was lost (mesh score below the mesh's threshold, or it became smaller
  than ``min_face``), two followed meshes overlap (one face passing in front of another), or at the last detection a face could not be meshed (so it can only be
  seen by detecting).

On a detection frame a face that was being followed keeps its anchor, moved halfway toward the
new detection, and is placed from it (so its crop does not jump by the detector's landmark
noise, which would break the appearance match of the tracker); new faces are the detector's.
``detect_every = 1`` (or no face mesh) is the detect-every-frame path, exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from affectlens.align.warp import invert_affine
from affectlens.detect.base import box_iou
from affectlens.types import Face

#: Two followed meshes overlapping more than this (box IoU) have merged onto one face (one face
#: passing in front of another): the frame is detected instead.
MAX_OVERLAP = 0.3
#: Faces are followed only between frames at most this far apart (about 14 analysed frames/s);
#: sparser frames are all detected.
MAX_GAP_MS = 70.0
#: How far a followed face's anchor moves toward a new detection of it (the rest is its history).
ANCHOR_UPDATE = 0.5


@dataclass(frozen=True)
class Anchor:
    """A detection in the frame of reference of its face's mesh (crop pixels of the mesh's region):
    box centre, box size and the five landmarks."""

    centre: np.ndarray  # (2,)
    size: np.ndarray  # (2,) width, height
    landmarks: np.ndarray  # (5, 2) or (0, 2)
    score: float


def _scale(m: np.ndarray) -> float:
    return math.sqrt(abs(np.linalg.det(m[:, :2])))


def _apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def anchor(face: Face, points: np.ndarray) -> Anchor:
    """``face`` (a detection) relative to its mesh ``points`` (468, 3) in the same frame."""
    from affectlens.models.landmarks import refine_roi

    m = refine_roi(points)
    x, y, w, h = face.box
    k = _scale(m)
    return Anchor(
        centre=_apply(m, np.array([x + w / 2, y + h / 2])),
        size=np.array([w * k, h * k]),
        landmarks=_apply(m, face.landmark_array().reshape(-1, 2)),
        score=face.score,
    )


def blend(old: Anchor, new: Anchor, weight: float) -> Anchor:
    """``old`` moved by ``weight`` toward ``new`` (the score is the new one's)."""
    mix = lambda a, b: (1 - weight) * a + weight * b  # noqa: E731
    lm = mix(old.landmarks, new.landmarks) if old.landmarks.shape == new.landmarks.shape else new.landmarks
    return Anchor(mix(old.centre, new.centre), mix(old.size, new.size), lm, new.score)


def place(a: Anchor, points: np.ndarray, width: int, height: int) -> Face:
    """The face an anchor gives for a new mesh ``points``: box clipped to the frame like a detection."""
    from affectlens.models.landmarks import refine_roi

    m = refine_roi(points)
    inv = invert_affine(m)
    k = _scale(m)
    cx, cy = _apply(inv, a.centre)
    w, h = a.size / k
    x0, y0 = max(0.0, cx - w / 2), max(0.0, cy - h / 2)
    box = (float(x0), float(y0), float(min(width, cx + w / 2) - x0), float(min(height, cy + h / 2) - y0))
    lm = tuple((float(px), float(py)) for px, py in _apply(inv, a.landmarks))
    return Face(box=box, score=a.score, landmarks=lm)


@dataclass(frozen=True)
class Located:
    """The faces of one frame and their meshes, as the ordered stage found them."""

    faces: tuple[Face, ...]
    meshes: tuple[np.ndarray, ...]  # (468, 3) or (0, 3) per face
    skipped_small: int
    detected: bool  # the detector ran on this frame
    cut: bool  # a shot cut starts at this frame
    #: per face: run the occlusion check's extra passes (else its track's last reading is kept);
    #: empty: every face
    occlusion_check: tuple[bool, ...] = ()


@dataclass
class _Followed:
    points: np.ndarray
    anchor: Anchor


def _mesh_box(points: np.ndarray) -> tuple[float, float, float, float]:
    lo, hi = points[:, :2].min(0), points[:, :2].max(0)
    return (float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


class Follower:
    """The ordered face-finding stage of one video (see the module doc). Not thread-safe."""

    def __init__(self, face_mesh, detect_every: int, min_face: float):
        self.face_mesh = face_mesh
        self.detect_every = detect_every if face_mesh is not None else 1
        self.min_face = min_face
        self.reset()

    def reset(self) -> None:
        self._followed: list[_Followed] = []
        self._count = 0
        self._all_meshed = True
        self._search_until = 0  # detect every frame before this number (a face was lost)
        self._skipped = 0
        self._last_ms: float | None = None

    def scheduled(self, number: int) -> bool:
        """Whether frame ``number`` (0 = the first one located) is a detection frame by schedule
        or because nothing is followed now (frames decoded ahead may have their detection started
        early; a detection that turns out not to be needed is dropped)."""
        return self.detect_every <= 1 or number % self.detect_every == 0 or not self._followed

    def expects_detection(self, number: int) -> bool:
        """Whether frame ``number`` (at or after :attr:`count`) will likely be a detection frame,
        as far as is known now: by schedule, or because a face could not be meshed at the last
        detection or was lost (so every frame is detected until that changes). :meth:`locate`
        detects when this holds or the frame comes after a long gap; for frames ahead it is a
        guess, for starting detections early."""
        return self.scheduled(number) or not self._all_meshed or number < self._search_until

    @property
    def count(self) -> int:
        """How many frames have been located (the next frame's number)."""
        return self._count

    def locate(
        self, rgb: np.ndarray, detect: Callable[[], list[Face]], cut: bool = False, time_ms: float | None = None
    ) -> Located:
        """The faces of the next frame; ``detect()`` gives the detector's faces of ``rgb``;
        ``time_ms`` its time (None: frames are taken to be close enough to follow)."""
        number, self._count = self._count, self._count + 1
        if cut:
            self._followed = []
        gap = time_ms - self._last_ms if time_ms is not None and self._last_ms is not None else 0.0
        self._last_ms = time_ms
        sparse = gap > MAX_GAP_MS
        due = self.expects_detection(number) or sparse
        if not due:
            followed = self._follow(rgb)
            if followed is not None:
                faces = tuple(place(f.anchor, f.points, rgb.shape[1], rgb.shape[0]) for f in followed)
                if all(f.size >= self.min_face for f in faces):
                    self._followed = followed
                    return Located(faces, tuple(f.points for f in followed), self._skipped, False, cut)
        return self._detect(rgb, detect(), cut, number, blend_anchor=self.detect_every > 1 and not sparse)

    def _follow(self, rgb: np.ndarray) -> list[_Followed] | None:
        out = []
        for f in self._followed:
            res = self.face_mesh.follow(rgb, f.points)
            if not len(res.points):
                return None  # lost: detect on this frame
            out.append(_Followed(res.points, f.anchor))
        boxes = [_mesh_box(f.points) for f in out]
        for i in range(len(boxes)):
            for j in range(i):
                if box_iou(boxes[i], boxes[j]) > MAX_OVERLAP:
                    return None  # two meshes on one face (faces crossing): detect on this frame
        return out

    def _detect(self, rgb: np.ndarray, found: list[Face], cut: bool, number: int, blend_anchor: bool) -> Located:
        faces = [f for f in found if f.size >= self.min_face]
        self._skipped = len(found) - len(faces)
        if self.face_mesh is None:
            self._followed, self._all_meshed = [], True
            return Located(tuple(faces), tuple(np.zeros((0, 3)) for _ in faces), self._skipped, True, cut)
        meshes, followed = [], []
        for i, f in enumerate(faces):
            before = self._prior(f)
            pts = self.face_mesh.run(rgb, f, None if before is None else before.points).points
            meshes.append(pts)
            if not len(pts):
                continue
            a = anchor(f, pts)
            if before is not None and blend_anchor:
                # a face followed so far: its anchor moves halfway to the new detection and the
                # face is placed from it, so the crop does not jump at detection frames
                a = blend(before.anchor, a, ANCHOR_UPDATE)
                faces[i] = place(a, pts, rgb.shape[1], rgb.shape[0])
            followed.append(_Followed(pts, a))
        if len(faces) < len(self._followed):
            self._search_until = number + 1 + self.detect_every
        self._followed = followed
        self._all_meshed = len(followed) == len(faces)
        return Located(tuple(faces), tuple(meshes), self._skipped, True, cut)

    def _prior(self, face: Face) -> _Followed | None:
        """The followed face whose previous mesh overlaps this detection most (None when none does)."""
        best, prior = 0.0, None
        for f in self._followed:
            iou = box_iou(_mesh_box(f.points), face.box)
            if iou > best:
                best, prior = iou, f
        return prior
