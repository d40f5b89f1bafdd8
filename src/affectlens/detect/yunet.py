"""YuNet (libfacedetection, BSD-3) from the ``yuface`` wheel, whose weights are compiled in.

Large images are downscaled so the longer side is at most ``max_side`` before detection and
small ones upscaled to ``min_side``; boxes and landmarks are mapped back to original pixels.

The wheel's Python wrapper (``yuface.detect``) allocates a 36 KB result buffer with ``malloc``
on every call and never frees it, so memory grows without bound over a long video or a large
photo batch. We therefore call the detector function of the library the wheel ships
(``libfacedetection``'s ``facedetect_cnn``) through :mod:`ctypes`, with one result buffer per
thread that is reused: no leak, the GIL is released while it runs (so other threads decode and
classify meanwhile) and its OpenMP thread count can be set per calling thread (``threads``).
The binding is checked once against ``yuface.detect`` on a two-face image; if the library or
its result layout is not the one expected, the detector falls back to ``yuface.detect`` (and
logs a warning that memory grows per call).

Large detector inputs are tiled. The library's time grows faster than the pixel count above
about half a megapixel (on a 2-core machine: 463x640 in about 35 ms, 926x1280 in about 220 ms,
not 140), and its two OpenMP threads spin more than they work. So an input whose longer side
exceeds ``tile_from`` is cut into a grid of overlapping tiles of at most :data:`TILE_SIDE`
pixels, run one OpenMP thread each on the shared two-thread pool, plus one pass over the whole
input at half size for faces too large for the overlap (:func:`merge_tiles` keeps a tile's face only if
it does not touch an inner tile edge, and a coarse face only if it is larger than the overlap
and no tile found it).
"""

from __future__ import annotations

import ctypes
import logging
import threading
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from affectlens.detect.base import iou_matrix, register_detector
from affectlens.registry import cached
from affectlens.types import Face

log = logging.getLogger("affectlens")

#: Bytes the library may write into the result buffer (its header demands 0x20000).
RESULT_BUFFER_BYTES = 0x20000
#: int16 values per face in the result buffer: score*100, x, y, w, h, 10 landmark coordinates, pad.
FACE_STRIDE = 16
#: Longest side of a tile: about 0.25 megapixel, where the library's time per pixel is lowest
#: (a 1280x926 input makes six tiles; with the half-size pass, seven jobs for two threads).
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
#: Columns of a library row holding x and y positions (box corner, then the five landmarks).
XS, YS = [1, 5, 7, 9, 11, 13], [2, 6, 8, 10, 12, 14]
#: How ``facedetect_cnn(unsigned char*, unsigned char*, int, int, int)`` is named in the library
#: by the Itanium (GCC/Clang) and MSVC C++ ABIs, and plain C.
_SYMBOLS = ("_Z14facedetect_cnnPhS_iii", "?facedetect_cnn@@YAPEAHPEAE0HHH@Z", "facedetect_cnn")


class NativeYuNet:
    """``facedetect_cnn`` of the libfacedetection library inside the yuface wheel, via ctypes.

    :meth:`raw` returns the library's rows ``(N, 15)`` int16 for a BGR uint8 image: score in
    percent, box x, y, w, h, five landmarks (x, y). Thread-safe: each thread has its own result
    buffer.
    """

    def __init__(self, lib_path: Path, omp_path: Path | None = None):
        self.path = lib_path
        lib = ctypes.CDLL(str(lib_path))
        for name in _SYMBOLS:
            fn = getattr(lib, name, None)
            if fn is not None:
                break
        else:
            raise OSError(f"{lib_path.name}: no facedetect_cnn symbol")
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_int, ctypes.c_int]
        self._fn = fn
        self._set_threads = None
        if omp_path is not None:
            omp = ctypes.CDLL(str(omp_path))  # already loaded by the library: the same handle
            self._set_threads = omp.omp_set_num_threads
            self._set_threads.argtypes = [ctypes.c_int]
            self._set_threads.restype = None
        self._local = threading.local()
        self._init_lock = threading.Lock()
        self._ready = False

    def raw(self, bgr: np.ndarray, threads: int | None = None) -> np.ndarray:
        """Library rows (N, 15) int16 for a C-contiguous BGR uint8 image (H, W, 3)."""
        if bgr.dtype != np.uint8 or bgr.ndim != 3 or bgr.shape[2] != 3 or not bgr.flags.c_contiguous:
            raise ValueError(f"need a C-contiguous uint8 (H, W, 3) BGR image, got {bgr.dtype} {bgr.shape}")
        buf = getattr(self._local, "buf", None)
        if buf is None:
            buf = self._local.buf = np.zeros(RESULT_BUFFER_BYTES, np.uint8)
        if threads is not None and self._set_threads is not None and getattr(self._local, "threads", None) != threads:
            self._set_threads(int(threads))  # OpenMP threads of *this* thread's parallel regions
            self._local.threads = threads
        h, w = bgr.shape[:2]
        if not self._ready:  # the library initialises its weights lazily on the first call
            with self._init_lock:
                self._call(buf, bgr, w, h)
                self._ready = True
        else:
            self._call(buf, bgr, w, h)
        n = int(buf[:4].view(np.int32)[0])
        n = max(0, min(n, (RESULT_BUFFER_BYTES - 4) // (2 * FACE_STRIDE)))
        return buf[4 : 4 + n * FACE_STRIDE * 2].view(np.int16).reshape(n, FACE_STRIDE)[:, :15].copy()

    def _call(self, buf: np.ndarray, bgr: np.ndarray, w: int, h: int) -> None:
        if self._fn(buf.ctypes.data, bgr.ctypes.data, w, h, w * 3) is None:
            raise RuntimeError(f"{self.path.name}: facedetect_cnn failed")


def _find_library() -> tuple[Path, Path | None]:
    import yuface

    pkg = Path(yuface.__file__).resolve().parent
    libs = sorted(
        p
        for p in pkg.iterdir()
        if p.name.startswith(("libfacedetection", "facedetection")) and p.suffix in (".so", ".dylib", ".dll")
    )
    if not libs:
        libs = sorted(p for p in pkg.iterdir() if "facedetection" in p.name and ".so" in p.name)
    if not libs:
        raise OSError(f"no libfacedetection library in {pkg}")
    omp = sorted((pkg.parent / "yuface.libs").glob("libgomp*")) if (pkg.parent / "yuface.libs").is_dir() else []
    return libs[0], (omp[0] if omp else None)


def _reference_rows(bgr: np.ndarray) -> np.ndarray:
    from yuface.yuface import detect as c_detect

    return np.asarray(c_detect(bgr))[:, :15]


def native_yunet() -> NativeYuNet | None:
    """The checked ctypes binding, or None when it cannot be used (then ``yuface.detect`` is);
    checked once and kept in the registry's cache."""
    return cached(("yunet-native",), _checked_native)


def _checked_native() -> NativeYuNet | None:
    try:
        lib, omp = _find_library()
        native = NativeYuNet(lib, omp)
        probe, got = _probe_image(), []
        # in a helper thread, so that the caller's OpenMP settings stay as they are
        t = threading.Thread(target=lambda: got.append(native.raw(probe, threads=1)), name="affectlens-yunet-check")
        t.start()
        t.join()
        if not got:
            raise RuntimeError(f"{lib.name}: facedetect_cnn failed on the check image")
        got, ref = got[0], _reference_rows(probe)
        if len(ref) < 2 or not np.array_equal(got, ref):
            raise OSError(f"{lib.name}: results differ from yuface.detect ({len(got)} vs {len(ref)} faces)")
        return native
    except (OSError, AttributeError, ValueError, RuntimeError) as exc:
        log.warning("YuNet: using yuface.detect, which leaks about 36 KB per call (%s)", exc)
        return None


#: Side of each copy of the check image: small, because the check runs at every start-up (on
#: the main thread, whose start-up it delays: 160 px costs about 18 ms, 256 px about 80 ms)
#: yet large enough that the library finds both faces.
PROBE_SIDE = 160


def _probe_image() -> np.ndarray:
    """Two copies of the bundled astronaut photo side by side (two faces), as BGR."""
    im = Image.open(Path(__file__).resolve().parents[1] / "data" / "astronaut.jpg")
    im.draft("RGB", (PROBE_SIDE, PROBE_SIDE))  # JPEG decoded at a reduced scale: a few ms, not 20
    rgb = np.asarray(im.convert("RGB").resize((PROBE_SIDE, PROBE_SIDE), Image.BILINEAR))
    return np.ascontiguousarray(np.concatenate([rgb, rgb[:, ::-1]], axis=1)[:, :, ::-1])


@dataclass
class YuNetDetector:
    """YuNet face detector. ``threads``: OpenMP threads of each detection, set for the calling
    thread (None: the library's default, all cores)."""

    score_threshold: float = 0.7
    max_side: int = 1280
    min_side: int = 320
    threads: int | None = None
    tile_from: int | None = 1000
    name: str = "yunet"
    _native: NativeYuNet | None = field(default=None, init=False, repr=False)

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
        try:
            import yuface  # noqa: F401
        except ImportError:
            raise ImportError("the yunet detector needs the yuface package: pip install yuface") from None
        self._native = native_yunet()

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
        bgr = np.ascontiguousarray(img[:, :, ::-1])
        if self.tile_from is not None and max(bgr.shape[:2]) > self.tile_from:
            rows = self._tiled_rows(bgr)
        else:
            rows = self._scored_rows(bgr)
        faces = []
        for r in rows.astype(np.float64):
            x, y, bw, bh = (r[1:5] / scale).tolist()
            x0, y0 = max(0.0, x), max(0.0, y)
            box = (x0, y0, min(float(w), x + bw) - x0, min(float(h), y + bh) - y0)
            pts = tuple((float(px), float(py)) for px, py in (r[5:15].reshape(5, 2) / scale))
            faces.append(Face(box=box, score=float(r[0]) / 100.0, landmarks=pts))
        faces.sort(key=lambda f: -f.score)
        return faces

    def _rows(self, bgr: np.ndarray, threads: int | None = None) -> np.ndarray:
        if self._native is not None:
            return self._native.raw(bgr, threads or self.threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _reference_rows(bgr)

    def _scored_rows(self, bgr: np.ndarray, threads: int | None = None) -> np.ndarray:
        """The library's rows above the score threshold."""
        rows = self._rows(np.ascontiguousarray(bgr), threads)
        return rows[rows[:, 0] > self.score_threshold * 100]

    def _tiled_rows(self, bgr: np.ndarray) -> np.ndarray:
        """Rows above the score threshold of a large input, from its tiles and a half-size pass
        run on the shared pool (see the module docstring); in input pixels, best first."""
        from affectlens.models.runtime import shared_pool

        h, w = bgr.shape[:2]
        tiles = [(x, y, xe, ye) for y, ye in tile_spans(h, TILE_SIDE) for x, xe in tile_spans(w, TILE_SIDE)]
        half = np.asarray(Image.fromarray(bgr).reduce(2))
        pool = shared_pool()
        coarse = pool.submit(self._scored_rows, half, 1)
        parts = list(pool.map(lambda t: self._scored_rows(bgr[t[1] : t[3], t[0] : t[2]], 1), tiles))
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
    same = iou_matrix(rows[:, 1:5], rows[:, 1:5]) > SAME_FACE_IOU
    kept: list[int] = []
    for i in range(len(rows)):
        if not same[i, kept].any():
            kept.append(i)
    out = rows[kept, :15]
    return out[np.argsort(-out[:, 0], kind="stable")]


register_detector("yunet", YuNetDetector)
