"""Face detectors behind one small interface, chosen by name."""

from affectlens.detect.base import Detector, available_detectors, create_detector, register_detector

__all__ = ["Detector", "available_detectors", "create_detector", "register_detector"]
