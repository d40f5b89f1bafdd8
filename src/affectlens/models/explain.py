"""Occlusion-sensitivity explanations computed on the ONNX model (Zeiler & Fergus 2014).

A grey square (``patch`` pixels, the crop's grey 128) slides over the aligned crop in steps of
``stride``; for each position the model is run again and the drop of the probability of the
explained label (by default the predicted one) is recorded. Each crop pixel's heat is the mean
drop over the patch positions that covered it: positive where hiding that part of the face
lowers the model's belief in the label (the regions that drove the prediction), negative where
hiding it raises it. Units: probability (calibrated), in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Explanation:
    """Occlusion sensitivity of one face.

    ``heat`` is (S, S) in the model's aligned-crop pixels (S = the model's input size);
    ``grid`` is the raw drop per patch position (rows, cols), its top-left corners at
    ``positions`` crop pixels.
    """

    label: str
    prob: float
    heat: np.ndarray
    grid: np.ndarray
    positions: tuple[int, ...]
    patch: int
    stride: int


def _positions(size: int, patch: int, stride: int) -> list[int]:
    last = size - patch
    pos = list(range(0, last + 1, stride))
    if pos[-1] != last:
        pos.append(last)
    return pos


def occlusion_sensitivity(
    model,
    crop: np.ndarray,
    patch: int | None = None,
    stride: int | None = None,
    label: str | None = None,
    fill: int = 128,
) -> Explanation:
    """Occlusion map of one uint8 crop for ``label`` (default: the predicted label).

    ``patch`` and ``stride`` default to 1/4 and 1/12 of the crop side (12 and 4 px for 48 px).
    """
    size = model.cfg.input_size
    patch = patch or max(2, size // 4)
    stride = stride or max(1, size // 12)
    if not 1 <= patch <= size or stride < 1:
        raise ValueError(f"patch must be in [1, {size}] and stride >= 1, got patch={patch}, stride={stride}")
    crop = np.asarray(crop, dtype=np.uint8)
    base = model.predict(crop[None])[0]
    k = int(np.argmax(base)) if label is None else _label_index(model.cfg.labels, label)
    pos = _positions(size, patch, stride)
    batch = []
    for y in pos:
        for x in pos:
            c = crop.copy()
            c[y : y + patch, x : x + patch] = fill
            batch.append(c)
    batch = np.stack(batch)
    probs = np.concatenate([model.predict(batch[i : i + 256]) for i in range(0, len(batch), 256)])
    drop = (base[k] - probs[:, k]).reshape(len(pos), len(pos))
    total = np.zeros((size, size))
    count = np.zeros((size, size))
    for i, y in enumerate(pos):
        for j, x in enumerate(pos):
            total[y : y + patch, x : x + patch] += drop[i, j]
            count[y : y + patch, x : x + patch] += 1
    heat = total / np.maximum(count, 1)
    return Explanation(
        label=model.cfg.labels[k],
        prob=float(base[k]),
        heat=heat,
        grid=drop,
        positions=tuple(pos),
        patch=patch,
        stride=stride,
    )


def _label_index(labels, label: str) -> int:
    if label not in labels:
        raise ValueError(f"label {label!r} is not one of the model's labels: {', '.join(labels)}")
    return labels.index(label)


def overlay(face_rgb: np.ndarray, heat: np.ndarray, alpha: float = 0.6):
    """A PIL image: ``face_rgb`` with the positive part of ``heat`` drawn in red over it.

    The heat is upscaled to the face image's size and scaled so its maximum is fully red; when
    nothing lowers the probability the face is returned unchanged.
    """
    from PIL import Image

    face = Image.fromarray(np.asarray(face_rgb, dtype=np.uint8)).convert("RGB")
    pos = np.clip(np.asarray(heat, dtype=np.float64), 0.0, None)
    peak = pos.max()
    if peak <= 0:
        return face
    level = Image.fromarray(np.uint8(255 * pos / peak)).resize(face.size, Image.BILINEAR)
    a = np.asarray(level, dtype=np.float64)[:, :, None] / 255.0 * alpha
    base = np.asarray(face, dtype=np.float64)
    red = np.zeros_like(base)
    red[..., 0] = 255.0
    grey = base.mean(axis=2, keepdims=True).repeat(3, axis=2)  # grey face, red heat: easy to read
    out = (1 - a) * grey + a * red
    return Image.fromarray(np.uint8(np.clip(out, 0, 255)))
