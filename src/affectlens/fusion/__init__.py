"""Late fusion of face, voice and text per speech segment (see :mod:`affectlens.fusion.rule`)."""

from affectlens.fusion.config import FusionOptions, modality_weight
from affectlens.fusion.rule import Fused, Vote, fuse, reliability_weight

__all__ = ["Fused", "FusionOptions", "Vote", "fuse", "modality_weight", "reliability_weight"]
