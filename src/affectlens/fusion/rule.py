"""Late fusion of per-modality emotion distributions: weighted log-linear pooling (pure functions).

Every modality m that is *available* for a segment gives a distribution ``p_m`` over the 8
canonical labels, a reliability weight ``w_m`` and its *support* ``S_m`` (the canonical labels
its model can express; the voice model has no ``contempt``). The rule:

1. Modalities that are missing (no face in the segment, no transcript, no speech) or have
   weight 0 give **no vote** (they are left out, not counted as a zero vote). With none left
   the result is empty.
2. Smoothing: ``q_m = (1 - a) p_m + a / |S_m|`` on ``S_m`` (``a`` = :data:`SMOOTHING` = 0.02), so
   one confident model cannot veto a label with an exact zero.
3. Votes: ``v_m(y) = log q_m(y)`` for ``y`` in ``S_m``; for a label outside ``S_m`` the
   modality abstains with its average vote ``mean_{y' in S_m} log q_m(y')``.
4. Weights are normalised over the available modalities: ``u_m = w_m / sum w``.
5. Fused: ``p(y) ∝ exp(sum_m u_m v_m(y))`` over the union of the available supports; labels
   no available modality can express get 0 (never an invented label).

With one modality the fused distribution is that modality's smoothed distribution.

Reliability (:func:`reliability_weight`): the model's measured held-out accuracy corrected for
chance, times one minus its expected calibration error:
``w = max(0, (acc - 1/K) / (1 - 1/K)) * (1 - ECE)``, K = number of classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from affectlens.labels import CANONICAL

SMOOTHING = 0.02
from affectlens.options import MODALITIES  # noqa: E402  (written once, in the options tree)


def reliability_weight(accuracy: float, ece: float, n_classes: int) -> float:
    """Chance-corrected accuracy times (1 - ECE), in [0, 1]."""
    if not (0 <= accuracy <= 1 and 0 <= ece <= 1 and n_classes >= 2):
        raise ValueError(
            f"reliability needs accuracy and ECE in [0, 1] and >= 2 classes; got {accuracy}, {ece}, {n_classes}"
        )
    chance = 1.0 / n_classes
    return max(0.0, (accuracy - chance) / (1.0 - chance)) * (1.0 - ece)


@dataclass(frozen=True)
class Vote:
    """One modality's distribution over :data:`CANONICAL`, its weight and its support."""

    probs: tuple[float, ...]
    weight: float
    support: tuple[str, ...] = CANONICAL

    def __post_init__(self) -> None:
        if len(self.probs) != len(CANONICAL):
            raise ValueError(f"a vote needs {len(CANONICAL)} probabilities (canonical order), got {len(self.probs)}")
        if self.weight < 0:
            raise ValueError(f"a vote's weight must be >= 0, got {self.weight}")
        unknown = set(self.support) - set(CANONICAL)
        if unknown or not self.support:
            raise ValueError(f"vote support must be a non-empty subset of {', '.join(CANONICAL)}; got {self.support}")


@dataclass(frozen=True)
class Fused:
    """The fused distribution over :data:`CANONICAL` (empty when no modality voted)."""

    probs: tuple[float, ...]
    modalities: tuple[str, ...]

    @property
    def top(self) -> str | None:
        return CANONICAL[int(np.argmax(self.probs))] if self.probs else None

    def as_dict(self) -> dict[str, float]:
        return dict(zip(CANONICAL, self.probs))


def fuse(votes: dict[str, Vote | None]) -> Fused:
    """Fuse the available votes by the rule in the module docstring."""
    avail = [(m, v) for m, v in votes.items() if v is not None and v.weight > 0]
    if not avail:
        return Fused((), ())
    total_w = sum(v.weight for _, v in avail)
    score = np.zeros(len(CANONICAL))
    union = np.zeros(len(CANONICAL), bool)
    for _, v in avail:
        mask = np.array([c in v.support for c in CANONICAL])
        p = np.where(mask, np.clip(np.asarray(v.probs, dtype=np.float64), 0.0, None), 0.0)
        s = p.sum()
        p = p / s if s > 0 else mask / mask.sum()
        q = (1 - SMOOTHING) * p + SMOOTHING / mask.sum()
        logq = np.log(np.where(mask, q, 1.0))
        vote = np.where(mask, logq, logq[mask].mean())
        score += (v.weight / total_w) * vote
        union |= mask
    score = np.where(union, score, -np.inf)
    e = np.exp(score - score[union].max())
    fused = e / e.sum()
    order = [m for m in MODALITIES if m in dict(avail)] + sorted(m for m, _ in avail if m not in MODALITIES)
    return Fused(tuple(float(x) for x in fused), tuple(order))
