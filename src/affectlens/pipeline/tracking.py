"""Face tracking across video frames: motion + appearance association with Hungarian assignment.

A :class:`Tracker` keeps the faces of one video. Each call to :meth:`Tracker.update` gives
the faces of the next frame (with increasing ``time_ms``) and returns one track id per face.
Matching cost combines the overlap and centre distance between a track's predicted box
(constant velocity) and a detection with the distance between their appearance descriptors;
pairs that are too far apart in place, size or look are never matched. A track survives
``max_age_ms`` without a match (short misses, occlusions while two faces cross) and is then
dropped; a person who returns later gets a new id. Two faces of one frame never share an id.
A :class:`ShotCutDetector` spots hard cuts (a jump in the frame's colour histogram) so that
tracks end there instead of jumping to a different person at a similar place.
Call :meth:`Tracker.reset` (or make a new tracker) before the next video.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from affectlens.detect.base import iou_matrix
from affectlens.options import TrackerOptions  # noqa: F401  (the options tree owns it)
from affectlens.types import Box

_INF = 1e6


def appearance(crops: np.ndarray, size: int = 12) -> np.ndarray:
    """Cheap appearance descriptors (N, size*size) from aligned face crops (N, S, S[, 3]).

    Each crop is turned grey, block-averaged to ``size`` x ``size``, made zero-mean and unit
    length, so a dot product is a normalised correlation that ignores brightness and contrast.
    """
    x = np.asarray(crops, dtype=np.float32)
    if x.ndim == 4:
        x = x.mean(axis=3)
    n, s = x.shape[0], x.shape[1]
    if n == 0:
        return np.zeros((0, size * size), np.float32)
    k = max(1, s // size)
    x = x[:, : k * size, : k * size].reshape(n, size, k, size, k).mean(axis=(2, 4)).reshape(n, -1)
    x -= x.mean(axis=1, keepdims=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True) + 1e-6
    return x


def box_histogram(rgb: np.ndarray, box: Box, bins: int = 4) -> np.ndarray:
    """A colour histogram (bins**3) of the box region, square-rooted and unit length."""
    x, y, w, h = (int(round(v)) for v in box)
    patch = rgb[max(0, y) : max(0, y) + max(1, h), max(0, x) : max(0, x) + max(1, w)]
    if patch.size == 0:
        return np.full(bins**3, bins**-1.5, np.float32)
    q = (patch[::2, ::2].reshape(-1, 3).astype(np.int32) * bins) // 256
    hist = np.bincount((q[:, 0] * bins + q[:, 1]) * bins + q[:, 2], minlength=bins**3).astype(np.float32)
    hist = np.sqrt(hist)
    return hist / (np.linalg.norm(hist) + 1e-6)


class ShotCutDetector:
    """Flags a frame whose colour histogram differs from the previous frame's by more than
    ``threshold`` (1 - cosine similarity of square-rooted 8x8x8 histograms)."""

    def __init__(self, threshold: float = 0.04):
        if not 0 < threshold <= 1:
            raise ValueError(f"shot cut threshold must be in (0, 1], got {threshold}")
        self.threshold = threshold
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None

    def is_cut(self, rgb: np.ndarray) -> bool:
        """True when this frame (the next one of the video) starts a new shot."""
        return self.observe(self.histogram(rgb))

    @staticmethod
    def histogram(rgb: np.ndarray) -> np.ndarray:
        """The frame's descriptor for cut detection (stateless, so it can be computed anywhere)."""
        step = max(1, min(rgb.shape[:2]) // 120)
        small = rgb[::step, ::step]
        return box_histogram(small, (0, 0, small.shape[1], small.shape[0]), bins=8)

    def observe(self, hist: np.ndarray) -> bool:
        """Like :meth:`is_cut`, from the next frame's :meth:`histogram`."""
        prev, self._prev = self._prev, hist
        return prev is not None and 1.0 - float(hist @ prev) > self.threshold


@dataclass
class _Track:
    id: int
    box: np.ndarray  # x, y, w, h
    descriptor: np.ndarray
    last_ms: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))  # centre pixels per ms
    hits: int = 1

    def predicted(self, time_ms: float) -> np.ndarray:
        b = self.box.copy()
        b[:2] += self.velocity * (time_ms - self.last_ms)
        return b


def _assign(cost: np.ndarray) -> list[tuple[int, int]]:
    """The pairs (row, column) of least total cost, one per row or column, whichever are fewer
    (``scipy.optimize.linear_sum_assignment``). With one track or one face the answer is the
    cheapest cell of the row or column, found without importing ``scipy.optimize`` (a quarter of a
    second, a large share of a short one-face video's start-up)."""
    if cost.size == 0:
        return []
    if cost.shape[0] == 1:
        return [(0, int(np.argmin(cost[0])))]
    if cost.shape[1] == 1:
        return [(int(np.argmin(cost[:, 0])), 0)]
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:  # greedy fallback, cheapest pair first
        pairs, used_r, used_c = [], set(), set()
        for flat in np.argsort(cost, axis=None):
            r, c = divmod(int(flat), cost.shape[1])
            if r not in used_r and c not in used_c:
                pairs.append((r, c))
                used_r.add(r)
                used_c.add(c)
        return pairs
    rows, cols = linear_sum_assignment(cost)
    return list(zip(rows.tolist(), cols.tolist()))


class Tracker:
    """Assigns a stable track id to each face of each frame of one video (see module doc)."""

    def __init__(self, options: TrackerOptions | None = None):
        self.options = options or TrackerOptions()
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart ids at 0 (call between videos)."""
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._last_ms: float | None = None

    def cut(self) -> None:
        """End every track at a shot cut; later faces get new ids (ids are never reused)."""
        self._tracks = []

    @property
    def active(self) -> list[int]:
        """Ids of the tracks currently alive (seen within ``max_age_ms``)."""
        return [t.id for t in self._tracks]

    def cost(self, boxes: np.ndarray, descriptors: np.ndarray, time_ms: float) -> np.ndarray:
        """Matching cost (tracks x faces); ``>= 1e6`` where a pair may not be matched."""
        o = self.options
        if not self._tracks or len(boxes) == 0:
            return np.zeros((len(self._tracks), len(boxes)))
        pred = np.stack([t.predicted(time_ms) for t in self._tracks])
        iou = iou_matrix(pred, boxes)
        pc = pred[:, :2] + pred[:, 2:] / 2
        bc = boxes[:, :2] + boxes[:, 2:] / 2
        ps = np.sqrt(pred[:, 2] * pred[:, 3])[:, None]
        bs = np.sqrt(boxes[:, 2] * boxes[:, 3])[None, :]
        size = (ps + bs) / 2
        dist = np.linalg.norm(pc[:, None, :] - bc[None, :, :], axis=2) / np.maximum(size, 1e-6)
        gap_s = np.array([(time_ms - t.last_ms) / 1000.0 for t in self._tracks])[:, None]
        allowed = o.max_centre_dist + o.speed_allowance * np.maximum(gap_s - 0.1, 0)
        track_desc = np.stack([t.descriptor for t in self._tracks])
        app = np.clip(1.0 - track_desc @ descriptors.T, 0.0, 2.0)
        ratio = np.maximum(ps / bs, bs / ps)
        motion = (1.0 - iou) * 0.5 + np.minimum(dist / np.maximum(allowed, 1e-6), 1.0) * 0.5
        cost = o.w_motion * motion + o.w_appearance * app
        bad = (dist > allowed) | (ratio > o.max_size_ratio) | (app > o.max_appearance_dist)
        return np.where(bad, _INF, cost)

    def update(self, boxes, descriptors, time_ms: float) -> list[int]:
        """Track ids for this frame's faces (boxes (N, 4) x, y, w, h; descriptors (N, D))."""
        if self._last_ms is not None and time_ms <= self._last_ms:
            raise ValueError(
                f"tracker needs increasing timestamps: got {time_ms} ms after {self._last_ms} ms "
                "(call reset() before a new video)"
            )
        self._last_ms = time_ms
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        descriptors = np.asarray(descriptors, dtype=np.float64)
        descriptors = _unit(descriptors.reshape(len(boxes), -1)) if len(boxes) else np.zeros((0, 1))
        self._tracks = [t for t in self._tracks if time_ms - t.last_ms <= self.options.max_age_ms]
        ids = [-1] * len(boxes)
        if self._tracks and len(boxes):
            cost = self.cost(boxes, descriptors, time_ms)
            for r, c in _assign(cost):
                if cost[r, c] < _INF:
                    self._update_track(self._tracks[r], boxes[c], descriptors[c], time_ms)
                    ids[c] = self._tracks[r].id
        for i, tid in enumerate(ids):
            if tid < 0:
                self._tracks.append(_Track(self._next_id, boxes[i].copy(), descriptors[i].copy(), time_ms))
                ids[i] = self._next_id
                self._next_id += 1
        return ids

    @staticmethod
    def _update_track(t: _Track, box: np.ndarray, desc: np.ndarray, time_ms: float) -> None:
        dt = max(time_ms - t.last_ms, 1e-3)
        old_c = t.box[:2] + t.box[2:] / 2
        new_c = box[:2] + box[2:] / 2
        v = (new_c - old_c) / dt
        t.velocity = v if t.hits == 1 else 0.6 * v + 0.4 * t.velocity
        t.box = box.copy()
        d = 0.7 * t.descriptor + 0.3 * desc
        t.descriptor = d / (np.linalg.norm(d) + 1e-9)
        t.last_ms = time_ms
        t.hits += 1


def _unit(x: np.ndarray) -> np.ndarray:
    return x / (np.linalg.norm(x, axis=1, keepdims=True) + 1e-9)
