"""Pipelines: stateless image analysis (detect → align → preprocess → forward → postprocess)."""

from affectlens.pipeline.image import Analyzer, analyze, describe_face
from affectlens.pipeline.options import AnalyzeOptions

__all__ = ["AnalyzeOptions", "Analyzer", "analyze", "describe_face"]
