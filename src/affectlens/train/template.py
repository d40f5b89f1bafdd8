"""Estimate the 5-landmark alignment template of a face-crop data set with the face detector.

FER2013's crops were framed by its publishers, not by our detector. To align detected faces in
photos the way the model saw faces in training, we run YuNet on upscaled training crops and take
the per-landmark median position (mirrored and averaged, so the template is left-right
symmetric). The result is stored in the model config.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

UPSCALE = 4


def estimate_template(
    crops: np.ndarray, sample: int = 2000, seed: int = 0, min_score: float = 0.7
) -> tuple[np.ndarray, int]:
    """(template (5, 2) in crop pixels, number of crops it was measured on) for grey crops (N, S, S)."""
    from affectlens.detect.yunet import YuNetDetector

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(crops), size=min(sample, len(crops)), replace=False)
    side = crops.shape[1]
    big_side = side * UPSCALE
    detector = YuNetDetector(score_threshold=min_score, min_side=big_side, max_side=big_side)  # no rescaling
    points = []
    for i in idx:
        big = np.asarray(Image.fromarray(crops[i]).resize((big_side,) * 2, Image.BICUBIC))
        faces = detector.detect(np.repeat(big[:, :, None], 3, axis=2))  # sorted by score
        if faces:
            points.append(np.asarray(faces[0].landmarks, dtype=np.float64) / UPSCALE)
    if not points:
        raise RuntimeError("no face found in any sampled crop; cannot estimate a template")
    med = np.median(np.stack(points), axis=0)
    mirrored = med[[1, 0, 2, 4, 3]].copy()
    mirrored[:, 0] = side - mirrored[:, 0]
    return (med + mirrored) / 2, len(points)
