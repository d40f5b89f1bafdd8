"""Similarity warp of a face onto a landmark template, its inverse, and whole-image crops.

A template is five ``(x, y)`` points in the crop's pixel coordinates (same order as
:mod:`affectlens.types`), stored in each model's config.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

MAX_SUPERSAMPLE = 4


def estimate_similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping src onto dst.

    Umeyama's closed form without reflection; returns the 2x3 matrix ``M`` with
    ``dst ≈ M[:, :2] @ src + M[:, 2]``.
    """
    src = np.asarray(src, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst, dtype=np.float64).reshape(-1, 2)
    if src.shape != dst.shape or len(src) < 2:
        raise ValueError(f"need matching point sets of at least 2 points, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    var = (s**2).sum() / len(src)
    if var <= 0:
        raise ValueError("landmarks are all at one point; cannot align")
    cov = d.T @ s / len(src)
    u, sig, vt = np.linalg.svd(cov)
    fix = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        fix[1, 1] = -1
    rot = u @ fix @ vt
    scale = (sig * np.diag(fix)).sum() / var
    m = np.empty((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - m[:, :2] @ mu_s
    return m


def invert_affine(m: np.ndarray) -> np.ndarray:
    """The 2x3 inverse of a 2x3 affine matrix."""
    a = np.linalg.inv(m[:, :2])
    return np.hstack([a, (-a @ m[:, 2])[:, None]])


def _to_mode(img: Image.Image, colour: str) -> np.ndarray:
    if colour == "gray":
        return np.asarray(img.convert("L"), dtype=np.uint8)
    if colour == "rgb":
        return np.asarray(img.convert("RGB"), dtype=np.uint8)
    raise ValueError(f"unknown colour {colour!r}; valid: gray, rgb")


def warp_face(rgb: np.ndarray, landmarks, template, size: int, colour: str = "gray") -> tuple[np.ndarray, np.ndarray]:
    """Warp the face with ``landmarks`` so they land on ``template`` in a ``size`` x ``size`` crop.

    Large faces are warped at up to 4x the crop size and then reduced with a box filter, so the
    crop is anti-aliased. Returns ``(crop, M)``: the crop (uint8, (S, S) grey or (S, S, 3) RGB) and
    the 2x3 matrix mapping image pixels to crop pixels.
    """
    m = estimate_similarity(landmarks, template)
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))  # crop pixels per image pixel
    k = int(min(MAX_SUPERSAMPLE, max(1, math.floor(1.0 / scale)))) if scale > 0 else 1
    big = m * k
    inv = invert_affine(big)
    img = Image.fromarray(rgb)
    out = img.transform((size * k, size * k), Image.AFFINE, data=tuple(inv.ravel()), resample=Image.BILINEAR)
    if k > 1:
        out = out.resize((size, size), Image.BOX)
    return _to_mode(out, colour), m


def crop_whole_image(rgb: np.ndarray, size: int, colour: str = "gray") -> np.ndarray:
    """Treat the whole image as one face crop (``--crop-mode face``): resize to ``size`` square."""
    img = Image.fromarray(rgb)
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR if min(img.size) < size else Image.BOX)
    return _to_mode(img, colour)
