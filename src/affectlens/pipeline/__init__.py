"""Pipelines: stateless image analysis (detect → align → preprocess → forward → postprocess),
the video running mode, speech and text. :func:`affectlens.run` chains them per input."""

from affectlens.pipeline.image import Analyzer, analyze, describe_face, image_analyzer

__all__ = ["Analyzer", "analyze", "describe_face", "image_analyzer"]
