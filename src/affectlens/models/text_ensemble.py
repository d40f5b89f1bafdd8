"""Ensemble text model (engine ``ensemble``): a weighted mix of registered text models.

The members (``cfg.members``, registered text models over the same labels) each give their
temperature-scaled probabilities; :func:`mix_log_probs` averages them with
``cfg.member_weights``, either linearly (``p = sum_i w_i p_i``) or log-linearly
(``log p = sum_i w_i log p_i + const``, ``cfg.mix``). :meth:`EnsembleTextModel.forward` returns
that mixed log-probability as the ensemble's logits, so the ensemble's own ``temperature`` and
``uncertain`` thresholds (``margin``, ``min_max_logit``) apply to it like to any text model's
logits. The input checks (empty text, unsupported language) run once, in the ensemble; the
members never run them. The weights and the temperature are chosen on validation splits by
``benchmarks/text_ensemble.py``.
"""

from __future__ import annotations

import numpy as np

from affectlens.models.expression import log_softmax
from affectlens.models.text import BaseTextModel
from affectlens.registry import MIXES, ModelCfg, get_model_cfg


def mix_log_probs(logits, temperatures, weights, mode: str) -> np.ndarray:
    """Mixed log-probabilities (N, K) of members' logits (each N, K) and temperatures.

    ``linear``: log of the weighted mean of the probabilities; ``loglinear``: the weighted mean
    of the log-probabilities (unnormalised; a softmax renormalises it).
    """
    if mode not in MIXES:
        raise ValueError(f"unknown mix {mode!r}; valid: {', '.join(MIXES)}")
    logps = [log_softmax(z, t) for z, t in zip(logits, temperatures)]
    if mode == "loglinear":
        return sum(w * lp for w, lp in zip(weights, logps))
    p = sum(w * np.exp(lp) for w, lp in zip(weights, logps))
    return np.log(np.clip(p, 1e-300, None))


class EnsembleTextModel(BaseTextModel):
    """One registered ensemble text model; its members are created (without the language check)
    from the registry. ``threads``: onnxruntime intra-op threads of ONNX members."""

    engine = "ensemble"
    needs_file = False

    def __init__(self, cfg: ModelCfg, check_language: bool = True, threads: int = 2):
        super().__init__(cfg, check_language)
        from affectlens.models.text import create_text_model

        self.members = []
        for name in cfg.members:
            member = get_model_cfg(name, kind="text")
            if member.engine == "ensemble":
                raise ValueError(f"model {cfg.name!r}: member {name!r} is itself an ensemble")
            if tuple(member.labels) != tuple(cfg.labels):
                raise ValueError(f"model {cfg.name!r}: member {name!r} scores {member.labels}, expected {cfg.labels}")
            self.members.append(create_text_model(member, check_language=False, threads=threads))

    def member_logits(self, texts, contexts=None) -> list[np.ndarray]:
        """Each member's raw logits (N, K)."""
        return [m.forward(texts, contexts) for m in self.members]

    def forward(self, texts, contexts=None) -> np.ndarray:
        """Mixed log-probabilities (N, K) over :attr:`labels` (the ensemble's logits)."""
        texts = list(texts)
        logits = self.member_logits(texts, contexts)
        temps = [m.cfg.temperature for m in self.members]
        return mix_log_probs(logits, temps, self.cfg.member_weights, self.cfg.mix)
