"""Similarity warp of a face onto a landmark template, its inverse, and whole-image crops.

A template is five ``(x, y)`` points in the crop's pixel coordinates (same order as
:mod:`affectlens.types`), stored in each model's config.
"""

from __future__ import annotations

import math

import cv2
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


#: Crop colours: PIL's mode for each (crops of whole images are converted by PIL).
COLOURS = {"gray": "L", "rgb": "RGB"}


def _check_colour(colour: str) -> None:
    if colour not in COLOURS:
        raise ValueError(f"unknown colour {colour!r}; valid: {', '.join(COLOURS)}")


def to_colour(img: np.ndarray, colour: str) -> np.ndarray:
    """A uint8 grey (H, W) or RGB (H, W, 3) image in ``colour`` ("gray" or "rgb")."""
    _check_colour(colour)
    if colour == "gray":
        return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY) if img.ndim == 3 else img
    return cv2.cvtColor(img, cv2.COLOR_GRAY2RGB) if img.ndim == 2 else img


def _centre_convention(m: np.ndarray) -> np.ndarray:
    """``m`` (continuous coordinates, origin at the top-left corner of the first pixel, as PIL's
    transforms use) in OpenCV's convention (origin at the first pixel's centre)."""
    out = np.array(m, dtype=np.float64)
    out[:, 2] += out[:, :2] @ np.array([0.5, 0.5]) - 0.5
    return out


def warp_window(rgb: np.ndarray, m: np.ndarray, size: int, reduce_first: bool = False) -> np.ndarray:
    """The ``size`` x ``size`` uint8 image (grey or RGB, as ``rgb``) that the 2x3 matrix ``m``
    (image pixels -> crop pixels) maps ``rgb`` onto, bilinear, black outside the image
    (OpenCV's ``warpAffine``, which reads only the pixels it needs).

    Large faces are anti-aliased with a box filter of up to :data:`MAX_SUPERSAMPLE` pixels (as
    many as fit in one crop pixel): by warping at that many times the crop size and reducing, or
    with ``reduce_first`` by box-reducing the window of the image the crop reads first and
    warping at the crop size (the same filter in the other order, up to ``MAX_SUPERSAMPLE**2``
    times fewer samples: for large crops; pixels differ by about half a grey level on average).
    """
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))  # crop pixels per image pixel
    k = int(min(MAX_SUPERSAMPLE, max(1, math.floor(1.0 / scale)))) if scale > 0 else 1
    m = np.asarray(m, dtype=np.float64)
    if reduce_first and k > 1:
        inv = invert_affine(m)
        corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64)
        src = corners @ inv[:, :2].T + inv[:, 2]
        h, w = rgb.shape[:2]
        x0, y0 = (max(0, int(math.floor(v)) - 2) for v in src.min(0))
        x1, y1 = (min(lim, int(math.ceil(v)) + 2 + k) for v, lim in zip(src.max(0), (w, h)))
        nw, nh = (x1 - x0) // k, (y1 - y0) // k
        if nw < 1 or nh < 1:
            return np.zeros((size, size, *rgb.shape[2:]), np.uint8)
        window = rgb[y0 : y0 + nh * k, x0 : x0 + nw * k]
        rgb = cv2.resize(window, (nw, nh), interpolation=cv2.INTER_AREA)  # a k x k box filter
        m = np.hstack([m[:, :2] * k, (m[:, 2] + m[:, :2] @ np.array([x0, y0], np.float64))[:, None]])
        k = 1
    out = cv2.warpAffine(
        rgb, _centre_convention(m * k), (size * k, size * k), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return cv2.resize(out, (size, size), interpolation=cv2.INTER_AREA) if k > 1 else out


def warp_face(rgb: np.ndarray, landmarks, template, size: int, colour: str = "gray") -> tuple[np.ndarray, np.ndarray]:
    """Warp the face with ``landmarks`` so they land on ``template`` in a ``size`` x ``size`` crop
    (:func:`warp_window`). Returns ``(crop, M)``: the crop (uint8, (S, S) grey or (S, S, 3) RGB)
    and the 2x3 matrix mapping image pixels to crop pixels.
    """
    m = estimate_similarity(landmarks, template)
    return to_colour(warp_window(rgb, m, size), colour), m


def crop_whole_image(rgb: np.ndarray, size: int, colour: str = "gray") -> np.ndarray:
    """Treat the whole image as one face crop (``--crop-mode face``): resize to ``size`` square."""
    img = Image.fromarray(rgb)
    if img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR if min(img.size) < size else Image.BOX)
    _check_colour(colour)
    return np.asarray(img.convert(COLOURS[colour]), dtype=np.uint8)
