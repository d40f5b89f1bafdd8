"""Valence and arousal as a projection of the expression distribution onto circumplex prototypes.

What this is, exactly: **not** a separately trained valence/arousal regressor. Each expression
label has a fixed prototype point ``(valence, arousal)`` on Russell's circumplex of affect
(Russell 1980, "A circumplex model of affect", J. Pers. Soc. Psychol. 39(6)), and a face's
valence and arousal are the probability-weighted mean of those points::

    valence = sum_k p_k * V_k        arousal = sum_k p_k * A_k

Russell's circle places the affect concepts at eight compass points: pleasure 0°, excitement
45°, arousal 90°, distress 135°, displeasure 180°, depression 225°, sleepiness 270°,
relaxation 315° (angle measured from the pleasure axis toward the arousal axis). The
prototypes below put each category on that unit circle at the compass point it belongs to,
or halfway between two neighbouring points; which point each category gets is this project's
reading of the circumplex, not a measured quantity, and ``neutral`` sits at the centre::

    label       angle  between / at                    valence  arousal
    neutral       -    centre                            0.000    0.000
    happiness   22.5°  pleasure .. excitement            0.924    0.383
    surprise    90.0°  arousal                           0.000    1.000
    sadness    202.5°  displeasure .. depression        -0.924   -0.383
    anger      112.5°  arousal .. distress              -0.383    0.924
    disgust    157.5°  distress .. displeasure          -0.924    0.383
    fear       135.0°  distress                         -0.707    0.707
    contempt   180.0°  displeasure                      -1.000    0.000

Because the result is a convex combination of points inside the unit disc, both values lie in
[-1, 1] (convention: valence/arousal in [-1, 1]). A face the model finds 50 % happy and 50 %
sad gets valence 0: the projection cannot tell "mixed" from "neutral"; read the
probabilities for that. Labels without a prototype raise ``ValueError``.
"""

from __future__ import annotations

import math

import numpy as np

#: label -> angle on Russell's circle in degrees (None = the centre). See the module doc.
ANGLES: dict[str, float | None] = {
    "neutral": None,
    "happiness": 22.5,
    "surprise": 90.0,
    "sadness": 202.5,
    "anger": 112.5,
    "disgust": 157.5,
    "fear": 135.0,
    "contempt": 180.0,
}


def _point(angle: float | None) -> tuple[float, float]:
    if angle is None:
        return 0.0, 0.0
    rad = math.radians(angle)
    return round(math.cos(rad), 6), round(math.sin(rad), 6)


#: label -> (valence, arousal) prototype on the unit circle (neutral at the centre).
PROTOTYPES: dict[str, tuple[float, float]] = {label: _point(a) for label, a in ANGLES.items()}


def prototype_matrix(labels) -> np.ndarray:
    """(K, 2) prototype points for ``labels`` in that order."""
    missing = [lab for lab in labels if lab not in PROTOTYPES]
    if missing:
        raise ValueError(
            f"no valence/arousal prototype for label(s) {', '.join(missing)}; known: {', '.join(PROTOTYPES)}"
        )
    return np.array([PROTOTYPES[lab] for lab in labels], dtype=np.float64)


def valence_arousal(probs, labels) -> np.ndarray:
    """Valence and arousal from probabilities over ``labels``: (2,) for (K,), (N, 2) for (N, K).

    Probabilities are renormalised to sum to 1 first, so the result stays in [-1, 1].
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.shape[-1] != len(labels):
        raise ValueError(f"probabilities have {p.shape[-1]} columns but {len(labels)} labels were given")
    total = p.sum(axis=-1, keepdims=True)
    p = np.divide(p, total, out=np.zeros_like(p), where=total > 0)
    return np.clip(p @ prototype_matrix(labels), -1.0, 1.0)
