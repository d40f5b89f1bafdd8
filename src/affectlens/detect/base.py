"""The detector interface and the detector registry.

A detector takes an RGB uint8 image (H, W, 3) and returns :class:`~affectlens.types.Face`
objects in that image's pixel coordinates, five landmarks each, best first.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from affectlens.types import Face


@runtime_checkable
class Detector(Protocol):
    name: str

    def detect(self, rgb: np.ndarray) -> list[Face]:
        """Faces in ``rgb`` (H, W, 3) uint8, in its pixel coordinates, best first."""
        ...


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union between boxes (N, 4) and (M, 4) given as x, y, w, h."""
    ax0, ay0, ax1, ay1 = a[:, 0:1], a[:, 1:2], a[:, 0:1] + a[:, 2:3], a[:, 1:2] + a[:, 3:4]
    bx0, by0, bx1, by1 = b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    iw = np.clip(np.minimum(ax1, bx1) - np.maximum(ax0, bx0), 0, None)
    ih = np.clip(np.minimum(ay1, by1) - np.maximum(ay0, by0), 0, None)
    inter = iw * ih
    union = a[:, 2:3] * a[:, 3:4] + b[:, 2] * b[:, 3] - inter
    return inter / np.maximum(union, 1e-9)


def suppress(boxes: np.ndarray, iou: float) -> list[int]:
    """Greedy non-maximum suppression: the indices of ``boxes`` (N, 4; x, y, w, h; best first)
    that overlap no earlier kept box by more than ``iou``, in order."""
    over = iou_matrix(boxes, boxes) > iou
    kept: list[int] = []
    for i in range(len(boxes)):
        if not over[i, kept].any():
            kept.append(i)
    return kept


def box_iou(a, b) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    return float(iou_matrix(np.asarray([a], dtype=np.float64), np.asarray([b], dtype=np.float64))[0, 0])


_DETECTORS: dict[str, Callable[..., Detector]] = {}


def register_detector(name: str, factory: Callable[..., Detector]) -> None:
    """Make ``factory(**options)`` available as ``create_detector(name, **options)``."""
    _DETECTORS[name] = factory


def available_detectors() -> list[str]:
    _load_builtin()
    return sorted(_DETECTORS)


def create_detector(name: str = "yunet", **options) -> Detector:
    _load_builtin()
    if name not in _DETECTORS:
        raise ValueError(f"unknown detector {name!r}; available: {', '.join(sorted(_DETECTORS))}")
    return _DETECTORS[name](**options)


def _load_builtin() -> None:
    if "yunet" not in _DETECTORS:
        from affectlens.detect import yunet  # noqa: F401  (registers itself)
