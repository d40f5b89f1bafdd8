"""Fusion weights: each modality's reliability, derived from its model's measured metrics.

The weight of a modality is :func:`~affectlens.fusion.rule.reliability_weight` of the held-out
accuracy and ECE its model reports in ``models.json`` (the first key pair of
:data:`RELIABILITY_KEYS` the model has). Nothing is typed in by hand: a model without such
metrics cannot be weighted, and :func:`modality_weight` says so. ``FusionOptions.weights``
overrides any of them explicitly.
"""

from __future__ import annotations

from affectlens.fusion.rule import reliability_weight
from affectlens.options import FusionOptions
from affectlens.registry import ModelCfg

#: Metric keys (accuracy, ECE) read from a model's ``metrics``, by model kind, first match wins.
RELIABILITY_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    # face: FER+ test under the plurality rule, which keeps the ambiguous faces the stricter
    # majority rule drops (a more conservative reliability than the headline accuracy)
    "expression": (
        ("ferplus_plurality_test_acc", "ferplus_plurality_test_ece"),
        ("fer2013_test_acc", "fer2013_test_ece"),
    ),
    "speech": (("ravdess_actor_kfold_acc", "ravdess_actor_kfold_ece"),),
    # text: MELD first, the dialogue domain that transcripts of recordings resemble most
    "text": (("meld_test_acc", "meld_test_ece"), ("goemotions_ekman_test_acc", "goemotions_ekman_test_ece")),
}


def modality_weight(cfg: ModelCfg) -> float:
    """Reliability weight of one registered model from its measured metrics."""
    for acc_key, ece_key in RELIABILITY_KEYS.get(cfg.kind, ()):
        if acc_key in cfg.metrics and ece_key in cfg.metrics:
            return reliability_weight(float(cfg.metrics[acc_key]), float(cfg.metrics[ece_key]), len(cfg.labels))
    keys = ", ".join(f"{a}+{e}" for a, e in RELIABILITY_KEYS.get(cfg.kind, ())) or "none known"
    raise ValueError(
        f"model {cfg.name!r} has no measured accuracy and ECE to weight it in fusion "
        f"(looked for {keys}); give FusionOptions(weights={{...}}) explicitly"
    )


def fusion_weight(options: FusionOptions, modality: str, cfg: ModelCfg | None) -> float:
    """The explicit weight of ``modality`` in ``options``, else its model's measured reliability."""
    if modality in options.weights:
        return float(options.weights[modality])
    if cfg is None:
        raise ValueError(f"no model and no explicit weight for modality {modality!r}")
    return modality_weight(cfg)
