"""Drawing results onto images."""

from affectlens.viz.annotate import annotate

__all__ = ["annotate"]
