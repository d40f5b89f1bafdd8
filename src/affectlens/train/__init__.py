"""Training of the project's own expression models (needs the ``[train]`` extra)."""

from affectlens.train.config import TrainConfig

__all__ = ["TrainConfig"]
