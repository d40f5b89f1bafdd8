"""Model runners (onnxruntime, CPU)."""

from affectlens.models.expression import ExpressionModel, load_expression_model
from affectlens.models.runtime import onnx_session

__all__ = ["ExpressionModel", "load_expression_model", "onnx_session"]
