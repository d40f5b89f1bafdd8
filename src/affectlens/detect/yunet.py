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

from affectlens.detect.base import register_detector
from affectlens.registry import cached
from affectlens.types import Face

log = logging.getLogger("affectlens")

#: Bytes the library may write into the result buffer (its header demands 0x20000).
RESULT_BUFFER_BYTES = 0x20000
#: int16 values per face in the result buffer: score*100, x, y, w, h, 10 landmark coordinates, pad.
FACE_STRIDE = 16
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


def _probe_image() -> np.ndarray:
    """Two copies of the bundled astronaut photo side by side (two faces), as BGR."""
    rgb = np.asarray(Image.open(Path(__file__).resolve().parents[1] / "data" / "astronaut.jpg").convert("RGB"))
    rgb = np.asarray(Image.fromarray(rgb).resize((256, 256), Image.BILINEAR))
    return np.ascontiguousarray(np.concatenate([rgb, rgb[:, ::-1]], axis=1)[:, :, ::-1])


@dataclass
class YuNetDetector:
    """YuNet face detector. ``threads``: OpenMP threads of each detection, set for the calling
    thread (None: the library's default, all cores)."""

    score_threshold: float = 0.7
    max_side: int = 1280
    min_side: int = 320
    threads: int | None = None
    name: str = "yunet"
    _native: NativeYuNet | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {self.score_threshold}")
        if self.max_side < self.min_side or self.min_side < 32:
            raise ValueError(f"need 32 <= min_side <= max_side, got min_side={self.min_side}, max_side={self.max_side}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads must be >= 1 or None, got {self.threads}")
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
            img = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
        bgr = np.ascontiguousarray(img[:, :, ::-1])
        rows = self._rows(bgr)
        rows = rows[rows[:, 0] > self.score_threshold * 100]
        faces = []
        for r in rows.astype(np.float64):
            x, y, bw, bh = (r[1:5] / scale).tolist()
            x0, y0 = max(0.0, x), max(0.0, y)
            box = (x0, y0, min(float(w), x + bw) - x0, min(float(h), y + bh) - y0)
            pts = tuple((float(px), float(py)) for px, py in (r[5:15].reshape(5, 2) / scale))
            faces.append(Face(box=box, score=float(r[0]) / 100.0, landmarks=pts))
        faces.sort(key=lambda f: -f.score)
        return faces

    def _rows(self, bgr: np.ndarray) -> np.ndarray:
        if self._native is not None:
            return self._native.raw(bgr, self.threads)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return _reference_rows(bgr)


register_detector("yunet", YuNetDetector)
