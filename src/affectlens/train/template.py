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


def estimate_template(crops: np.ndarray, sample: int = 2000, seed: int = 0, min_score: float = 0.7) -> tuple[np.ndarray, int]:
    """(template (5, 2) in crop pixels, number of crops it was measured on) for grey crops (N, S, S)."""
    import warnings

    import yuface

    rng = np.random.default_rng(seed)
    idx = rng.choice(len(crops), size=min(sample, len(crops)), replace=False)
    side = crops.shape[1]
    points = []
    for i in idx:
        big = np.asarray(Image.fromarray(crops[i]).resize((side * UPSCALE,) * 2, Image.BICUBIC))
        bgr = np.ascontiguousarray(np.repeat(big[:, :, None], 3, axis=2))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            conf, _, marks = yuface.detect(bgr, conf=min_score)
        if len(conf):
            points.append(marks[int(np.argmax(conf))].reshape(5, 2).astype(np.float64) / UPSCALE)
    if not points:
        raise RuntimeError("no face found in any sampled crop; cannot estimate a template")
    med = np.median(np.stack(points), axis=0)
    mirrored = med[[1, 0, 2, 4, 3]].copy()
    mirrored[:, 0] = side - mirrored[:, 0]
    return (med + mirrored) / 2, len(points)
