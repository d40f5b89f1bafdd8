"""Deterministic perturbations of face crops for robustness reports (pure numpy + Pillow).

Each function takes uint8 crops (N, S, S) grey or (N, S, S, 3) and returns perturbed copies.
Occluders are placed with the model's 5-point template (eyes, nose, mouth corners), so "eyes"
and "mouth" mean the same facial region for every model.
"""

from __future__ import annotations

import math

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
        pad = max(0, math.ceil(side * (1 / zoom - 1) / 2))  # ceil: the box never leaves the padded image
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


#: The degradations of :func:`random_degradations` and the ranges their settings are drawn from
#: (uniformly): wider than, and around, the fixed settings of :data:`PERTURBATIONS`.
DEGRADATION_RANGES = {
    "blur": "radius 0.5-2.5 px",
    "low resolution": "face side 12-40 px",
    "eyes occluded": "bar grey level 0-255, template shifted up to 2 px",
    "mouth occluded": "block grey level 0-255, template shifted up to 2 px",
    "jpeg": "quality 8-50",
    "rotation": "-30 to 30 degrees",
    "framing": "zoom 0.7-1.35",
}


def _degrade_one(crop: np.ndarray, kind: str, template, rng: np.random.Generator) -> np.ndarray:
    c = crop[None]
    shifted = np.asarray(template, dtype=np.float64) + rng.uniform(-2, 2, (1, 2))
    if kind == "blur":
        return blur(c, rng.uniform(0.5, 2.5))[0]
    if kind == "low resolution":
        return to_pixels(c, int(rng.integers(12, 41)))[0]
    if kind == "eyes occluded":
        return occlude_eyes(c, shifted, int(rng.integers(0, 256)))[0]
    if kind == "mouth occluded":
        return occlude_mouth(c, shifted, int(rng.integers(0, 256)))[0]
    if kind == "jpeg":
        return jpeg(c, int(rng.integers(8, 51)))[0]
    if kind == "rotation":
        return rotate(c, rng.uniform(-30, 30))[0]
    return reframe(c, rng.uniform(0.7, 1.35))[0]


def random_degradations(crops: np.ndarray, template, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(degraded copies, kind index into DEGRADATION_RANGES per crop): each crop gets one
    degradation, its kind and setting drawn (seeded) from :data:`DEGRADATION_RANGES`."""
    rng = np.random.default_rng(seed)
    kinds = list(DEGRADATION_RANGES)
    which = rng.integers(0, len(kinds), len(crops))
    out = np.empty_like(crops)
    for i, k in enumerate(which):
        out[i] = _degrade_one(crops[i], kinds[k], template, rng)
    return out, which
