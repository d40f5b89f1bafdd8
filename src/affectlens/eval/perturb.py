"""Deterministic perturbations of face crops for robustness reports (pure numpy + Pillow).

Each function takes uint8 crops (N, S, S) grey or (N, S, S, 3) and returns perturbed copies.
Occluders are placed with the model's 5-point template (eyes, nose, mouth corners), so "eyes"
and "mouth" mean the same facial region for every model.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def occlude_eyes(crops: np.ndarray, template, value: int = 0) -> np.ndarray:
    """A glasses-like opaque bar across both eyes (height 40% of the eye-to-mouth distance)."""
    t = np.asarray(template, dtype=np.float64)
    eye_y, mouth_y = t[:2, 1].mean(), t[3:, 1].mean()
    half = 0.2 * (mouth_y - eye_y) + 1
    out = crops.copy()
    out[:, max(0, round(eye_y - half)) : round(eye_y + half) + 1] = value
    return out


def occlude_mouth(crops: np.ndarray, template, value: int = 200) -> np.ndarray:
    """A medical-mask-like block from halfway between nose and mouth down to the chin."""
    t = np.asarray(template, dtype=np.float64)
    top = (t[2, 1] + t[3:, 1].mean()) / 2
    side = crops.shape[1]
    margin = max(0.0, t[3, 0] - 0.6 * (t[4, 0] - t[3, 0]))
    out = crops.copy()
    out[:, round(top) :, round(margin) : side - round(margin)] = value
    return out


def rotate(crops: np.ndarray, degrees: float) -> np.ndarray:
    """In-plane rotation about the crop centre (head roll), edges filled by replication."""
    out = np.empty_like(crops)
    for i, c in enumerate(crops):
        img = Image.fromarray(c)
        big = Image.fromarray(
            np.pad(c, [(c.shape[0] // 2,) * 2, (c.shape[1] // 2,) * 2] + [(0, 0)] * (c.ndim - 2), mode="edge")
        )
        r = big.rotate(degrees, resample=Image.BILINEAR)
        w, h = img.size
        out[i] = np.asarray(r.crop((w // 2, h // 2, w // 2 + w, h // 2 + h)))
    return out


def downscale(crops: np.ndarray, factor: float) -> np.ndarray:
    """Lose resolution: shrink by ``factor`` and enlarge back (a small, far-away face)."""
    out = np.empty_like(crops)
    for i, c in enumerate(crops):
        img = Image.fromarray(c)
        w, h = img.size
        small = (max(1, round(w / factor)), max(1, round(h / factor)))
        out[i] = np.asarray(img.resize(small, Image.BOX).resize((w, h), Image.BILINEAR))
    return out


def to_pixels(crops: np.ndarray, side: int) -> np.ndarray:
    """The face as if it were ``side`` pixels wide in the picture (shrunk and enlarged back)."""
    return downscale(crops, crops.shape[1] / side)


def blur(crops: np.ndarray, radius: float) -> np.ndarray:
    """Gaussian blur (out of focus, motion-free) of ``radius`` pixels at the crop's size."""
    from PIL import ImageFilter

    return np.stack([np.asarray(Image.fromarray(c).filter(ImageFilter.GaussianBlur(radius))) for c in crops])


def jpeg(crops: np.ndarray, quality: int) -> np.ndarray:
    """JPEG compression at ``quality`` (encoded and decoded by Pillow)."""
    import io

    out = np.empty_like(crops)
    for i, c in enumerate(crops):
        buf = io.BytesIO()
        Image.fromarray(c).save(buf, "JPEG", quality=quality)
        out[i] = np.asarray(Image.open(buf))
    return out


def reframe(crops: np.ndarray, zoom: float) -> np.ndarray:
    """Framing: ``zoom`` > 1 a tighter crop (the face fills more, its edges cut off), < 1 a looser
    one (more background; the missing border filled by replicating the edge)."""
    out = np.empty_like(crops)
    side = crops.shape[1]
    for i, c in enumerate(crops):
        pad = max(0, round(side * (1 / zoom - 1) / 2))
        big = np.pad(c, [(pad, pad), (pad, pad)] + [(0, 0)] * (c.ndim - 2), mode="edge")
        centre, half = big.shape[0] / 2, side / zoom / 2
        box = (centre - half, centre - half, centre + half, centre + half)
        out[i] = np.asarray(Image.fromarray(big).resize((side, side), Image.BILINEAR, box=box))
    return out


PERTURBATIONS = {
    "none": lambda c, t: c,
    "eyes occluded": occlude_eyes,
    "mouth occluded": occlude_mouth,
    "rotated 20°": lambda c, t: rotate(c, 20),
    "rotated -20°": lambda c, t: rotate(c, -20),
    "16 px face": lambda c, t: to_pixels(c, 16),
    "24 px face": lambda c, t: to_pixels(c, 24),
    "32 px face": lambda c, t: to_pixels(c, 32),
    "blur (radius 1.5 px)": lambda c, t: blur(c, 1.5),
    "JPEG quality 20": lambda c, t: jpeg(c, 20),
    "tight framing (zoom 1.2)": lambda c, t: reframe(c, 1.2),
    "loose framing (zoom 0.8)": lambda c, t: reframe(c, 0.8),
}
