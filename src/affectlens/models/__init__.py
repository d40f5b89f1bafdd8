"""Model runners (onnxruntime, CPU)."""

from affectlens.models.expression import ExpressionModel, load_expression_model

__all__ = ["ExpressionModel", "load_expression_model"]
