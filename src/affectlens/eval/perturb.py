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


def downscale(crops: np.ndarray, factor: int) -> np.ndarray:
    """Lose resolution: shrink by ``factor`` and enlarge back (a small, far-away face)."""
    out = np.empty_like(crops)
    for i, c in enumerate(crops):
        img = Image.fromarray(c)
        w, h = img.size
        out[i] = np.asarray(
            img.resize((max(1, w // factor), max(1, h // factor)), Image.BOX).resize((w, h), Image.BILINEAR)
        )
    return out


PERTURBATIONS = {
    "none": lambda c, t: c,
    "eyes occluded": occlude_eyes,
    "mouth occluded": occlude_mouth,
    "rotated 20°": lambda c, t: rotate(c, 20),
    "rotated -20°": lambda c, t: rotate(c, -20),
    "low resolution (1/3)": lambda c, t: downscale(c, 3),
}
