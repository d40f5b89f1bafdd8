"""Decode image files safely into RGB uint8 arrays, honouring EXIF orientation.

Every failure raises :class:`InputError` whose message names the file and the reason in one
line: missing path, broken symbolic link or link loop, a folder or special file (FIFO, device),
empty file, permission denied, not an image (and what it is instead, when it is audio or video),
truncated or corrupt data, or an image too large to decode safely (a decompression bomb; the
pixel limit shrinks with the bit depth, :func:`pixel_limit`). Pillow's warnings are logged as one
line naming the file.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger("affectlens")

IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".jfif"}
)

#: Images with more pixels than this are refused (the same limit as Pillow's default).
MAX_PIXELS = 89_478_485


class InputError(ValueError):
    """An input that cannot be analysed; the message names the input and the reason."""


@dataclass(frozen=True)
class LoadedImage:
    source: str
    pixels: np.ndarray  # (H, W, 3) uint8 RGB, EXIF orientation applied

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def to_rgb_array(img) -> np.ndarray:
    """A PIL image of any mode (L, LA, P, RGBA, CMYK, I;16, I, F …) as (H, W, 3) uint8 RGB."""
    from PIL import Image

    if img.mode.startswith("I;16"):  # integer arithmetic: 4 bytes per pixel at most, not 8
        a = np.asarray(img).astype(np.uint32)
        a *= 255
        a += 32767
        a //= 65535
        return np.repeat(a.astype(np.uint8)[:, :, None], 3, axis=2)
    if img.mode in ("I", "F"):
        a = np.asarray(img, dtype=np.float32)
        peak = float(np.nanmax(a)) if a.size else 0.0
        hi = 65535.0 if peak > 255 else (1.0 if img.mode == "F" and peak <= 1.0 else 255.0)
        a = np.clip(a * np.float32(255.0 / hi) + np.float32(0.5), 0, 255).astype(np.uint8)
        return np.repeat(a[:, :, None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def array_to_rgb(array: np.ndarray, source: str = "<array>") -> np.ndarray:
    """A numpy image (H, W), (H, W, 1|3|4), uint8/uint16/float in [0, 1] as (H, W, 3) uint8 RGB."""
    a = np.asarray(array)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)) or min(a.shape[:2]) < 1:
        raise InputError(f"{source}: expected an image array (H, W), (H, W, 3) or (H, W, 4); got shape {a.shape}")
    if a.dtype == np.uint16:
        a = (a.astype(np.float64) / 257.0).round().astype(np.uint8)
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise InputError(f"{source}: image array holds NaN or infinite values")
        a = np.clip(a * (255.0 if a.max() <= 1.0 else 1.0), 0, 255).round().astype(np.uint8)
    elif a.dtype != np.uint8:
        raise InputError(f"{source}: unsupported image dtype {a.dtype}; use uint8, uint16 or float")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    return np.ascontiguousarray(a[:, :, :3])


def check_file(path: str | os.PathLike, kind: str, error: type[InputError] = InputError) -> Path:
    """``path`` as a Path if it is a readable, non-empty regular file; else ``error`` naming it and
    the true reason (missing, broken symbolic link, link loop, folder, FIFO/socket/device, empty,
    permission denied)."""
    name, p = str(path), Path(path)
    try:
        st = p.stat()
    except OSError as exc:
        raise error(f"{name}: {_stat_reason(p, exc)}") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{name}: is a folder, not {kind}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{name}: not a regular file (a {_file_type(st.st_mode)}), not {kind}")
    if st.st_size == 0:
        raise error(f"{name}: empty file (0 bytes)")
    try:
        with open(p, "rb"):
            pass
    except PermissionError:
        raise error(f"{name}: permission denied (cannot read the file)") from None
    except OSError as exc:
        raise error(f"{name}: cannot read ({exc.strerror or exc})") from None
    return p


def _stat_reason(p: Path, exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symbolic link loop (the link points back to itself)"
    if isinstance(exc, PermissionError):
        return "permission denied (cannot reach the file)"
    if p.is_symlink():
        return f"broken symbolic link (its target {os.readlink(p)} does not exist)"
    if isinstance(exc, FileNotFoundError):
        return "no such file or folder"
    return f"cannot read ({exc.strerror or exc})"


def _file_type(mode: int) -> str:
    kinds = (
        (stat.S_ISFIFO, "FIFO / named pipe"),
        (stat.S_ISSOCK, "socket"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
    )
    return next((label for test, label in kinds if test(mode)), "special file")


#: Bits per channel of Pillow modes deeper than 8 bits (all others hold 8 bits or fewer).
MODE_BITS = {"I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32}


def pixel_limit(mode: str) -> int:
    """Most pixels decoded for an image of Pillow ``mode``: :data:`MAX_PIXELS` for 8-bit images,
    half that for 16-bit and a quarter for 32-bit ones, so the decoded size stays bounded."""
    return MAX_PIXELS * 8 // max(8, MODE_BITS.get(mode, 8))


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Decode ``path`` into RGB; raise :class:`InputError` naming the file and the reason.

    Pillow's warnings (e.g. corrupt EXIF data) are logged as one line naming the file."""
    from PIL import Image

    name = str(path)
    p = check_file(path, "an image")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UserWarning)
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            return _decode(name, p)
        finally:
            for w in caught:
                if f"{os.sep}PIL{os.sep}" in w.filename:
                    log.warning("%s: %s", name, " ".join(str(w.message).split()))
                else:  # not about the image: shown as Python would have
                    warnings.showwarning(w.message, w.category, w.filename, w.lineno)


def _decode(name: str, p: Path) -> LoadedImage:
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with Image.open(p) as img:
            w, h = img.size
            limit = pixel_limit(img.mode)
            if w * h > limit:
                bits = MODE_BITS.get(img.mode, 8)
                raise InputError(
                    f"{name}: image of {w}x{h} = {w * h / 1e6:.0f} Mpx at {bits} bits per channel exceeds the safe "
                    f"limit of {limit / 1e6:.0f} Mpx for {bits}-bit images (possible decompression bomb)"
                )
            img.load()
            img = ImageOps.exif_transpose(img)
            return LoadedImage(name, to_rgb_array(img))
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{name}: image too large to decode safely (decompression bomb): {exc}") from exc
    except UnidentifiedImageError:
        raise InputError(f"{name}: {_not_an_image(p)}") from None
    except PermissionError:
        raise InputError(f"{name}: permission denied (cannot read the file)") from None
    except (OSError, SyntaxError, ValueError, EOFError, TypeError, IndexError, KeyError, struct.error) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise InputError(f"{name}: corrupt or truncated image ({reason})") from None


def _not_an_image(p: Path) -> str:
    from affectlens.io.audio import sniff_audio
    from affectlens.io.video import sniff_video

    if sniff_audio(p):
        return "not an image: its content is audio (give it as an audio input)"
    if sniff_video(p):
        return "not an image: its content is a video (give it as a video input)"
    return "not a readable image (unknown format or corrupt header)"
