"""Pipelines: stateless image analysis (detect → align → preprocess → forward → postprocess)."""

from affectlens.pipeline.image import Analyzer, analyze
from affectlens.pipeline.options import AnalyzeOptions

__all__ = ["AnalyzeOptions", "Analyzer", "analyze"]
