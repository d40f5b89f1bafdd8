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
