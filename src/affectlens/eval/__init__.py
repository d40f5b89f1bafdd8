"""Evaluation: data set loaders, pure metric functions and the evaluation protocol."""
