"""Decode image files safely into RGB uint8 arrays, honouring EXIF orientation.

Every failure raises :class:`InputError` whose message names the file and the reason in one
line: missing path, empty file, not an image, truncated or corrupt data, or an image too large
to decode safely (a decompression bomb).
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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

    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        a = np.asarray(img, dtype=np.float64)
        hi = 65535.0 if img.mode.startswith("I;16") or a.max() > 255 else 255.0
        if img.mode == "F" and a.max() <= 1.0:
            hi = 1.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
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
    """``path`` as a Path if it is a non-empty file; else ``error`` naming it and the reason."""
    name, p = str(path), Path(path)
    if not p.exists():
        raise error(f"{name}: no such file or folder")
    if p.is_dir():
        raise error(f"{name}: is a folder, not {kind}")
    if p.stat().st_size == 0:
        raise error(f"{name}: empty file (0 bytes)")
    return p


def load_image(path: str | os.PathLike) -> LoadedImage:
    """Decode ``path`` into RGB; raise :class:`InputError` naming the file and the reason."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    name = str(path)
    p = check_file(path, "an image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(p) as img:
                w, h = img.size
                if w * h > MAX_PIXELS:
                    raise InputError(
                        f"{name}: image of {w}x{h} = {w * h / 1e6:.0f} Mpx exceeds the safe limit "
                        f"of {MAX_PIXELS / 1e6:.0f} Mpx (possible decompression bomb)"
                    )
                img.load()
                img = ImageOps.exif_transpose(img)
                return LoadedImage(name, to_rgb_array(img))
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{name}: image too large to decode safely (decompression bomb): {exc}") from exc
    except UnidentifiedImageError:
        raise InputError(f"{name}: not a readable image (unknown format or corrupt header)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise InputError(f"{name}: corrupt or truncated image ({reason})") from None
