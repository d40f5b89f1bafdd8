"""Quality-aware temperature: faces whose crops are blurred, tiny or covered get flatter probabilities.

One temperature fitted on clean validation faces leaves degraded faces over-confident (a 16 px
or blurred face is right 60 % of the time but said to be 77 % sure). A model whose config holds
``quality_temperature`` divides face ``i``'s logits by

    T_i = temperature * exp(offset + sum_k weight_k * g_k((x_ik - mean_k) / std_k))

where ``x_ik`` are cheap measures of the 48 px crop the classifier sees (and of its logits),
standardised with the clean validation faces' mean and standard deviation, and ``g_k`` keeps the
direction that means "degraded" (:data:`FEATURES`). ``temperature`` stays the one clean-face
temperature (used when no crops are given); ``offset`` and the weights are fitted together by
minimising the NLL on a seeded mix of clean and degraded validation faces
(:func:`affectlens.eval.calibration.fit_quality_temperature`). The temperature never changes
which label is on top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: The most a standardised feature counts, in clean standard deviations (bounds T_i).
Z_LIMIT = 8.0
#: A 4x4 tile (at 48 px) whose pixel standard deviation is below this (grey levels) is flat.
FLAT_STD = 2.0


def _grey(crops) -> np.ndarray:
    c = np.asarray(crops, dtype=np.float64)
    return c.mean(axis=3) if c.ndim == 4 else c


def fine_detail(crops) -> np.ndarray:
    """Share of fine detail per crop: log(1 + mean |Laplacian|) - log(1 + mean |gradient|).

    Blur and lost resolution remove the finest detail (the Laplacian) faster than the edges
    (the gradient); the difference is insensitive to the crop's overall contrast.
    """
    a = _grey(crops)
    if len(a) == 0:
        return np.zeros(0)
    lap = 4 * a[:, 1:-1, 1:-1] - a[:, :-2, 1:-1] - a[:, 2:, 1:-1] - a[:, 1:-1, :-2] - a[:, 1:-1, 2:]
    grad = np.abs(np.diff(a, axis=2)).mean(axis=(1, 2)) + np.abs(np.diff(a, axis=1)).mean(axis=(1, 2))
    return np.log1p(np.abs(lap).mean(axis=(1, 2))) - np.log1p(grad)


def flat_area(crops) -> np.ndarray:
    """Share of the crop's tiles (side // 12 px) that are flat (plain covers: masks, bars, paper)."""
    a = _grey(crops)
    if len(a) == 0:
        return np.zeros(0)
    tile = max(2, a.shape[1] // 12)
    h, w = a.shape[1] // tile * tile, a.shape[2] // tile * tile
    t = a[:, :h, :w].reshape(len(a), h // tile, tile, w // tile, tile).transpose(0, 1, 3, 2, 4)
    return (t.reshape(len(a), -1, tile * tile).std(axis=2) < FLAT_STD).mean(axis=1)


def top_logit(_crops, logits) -> np.ndarray:
    """The largest raw logit (the network's evidence for its answer)."""
    return np.asarray(logits, dtype=np.float64).max(axis=-1)


#: name -> (raw measure of (crops, logits), how its standardised value z counts):
#: ``shortfall2`` max(0, -z)^2 (only a loss counts, growing fast), ``excess`` max(0, z),
#: ``linear`` z (each clipped to Z_LIMIT).
FEATURES = {
    "fine_detail": (lambda c, z: fine_detail(c), "shortfall2"),
    "flat_area": (lambda c, z: flat_area(c), "excess"),
    "max_logit": (top_logit, "linear"),
}


def raw_features(names, crops, logits) -> np.ndarray:
    """(N, len(names)) raw measures of uint8 crops (N, S, S[, 3]) and their logits (N, K)."""
    n = len(np.asarray(logits))
    if n == 0:
        return np.zeros((0, len(names)))
    return np.stack([FEATURES[k][0](crops, logits) for k in names], axis=1)


def shaped(names, z: np.ndarray) -> np.ndarray:
    """Standardised features (N, F) → what each counts as (see :data:`FEATURES`)."""
    z = np.clip(np.asarray(z, dtype=np.float64), -Z_LIMIT, Z_LIMIT)
    cols = []
    for j, name in enumerate(names):
        how, col = FEATURES[name][1], z[:, j]
        cols.append(
            np.maximum(0.0, -col) ** 2 if how == "shortfall2" else np.maximum(0.0, col) if how == "excess" else col
        )
    return np.stack(cols, axis=1) if cols else z


@dataclass(frozen=True)
class QualityTemperature:
    """The fitted quality factor of one model (see the module docstring)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: tuple[float, ...]
    offset: float = 0.0

    @classmethod
    def from_config(cls, data: dict, model: str = "?") -> QualityTemperature:
        """From a ``models.json`` ``quality_temperature`` entry; extra keys (``fitted_on`` …) are kept
        there and ignored here. One-line ValueError naming the model and the field."""
        where = f"model {model!r}: quality_temperature"
        if not isinstance(data, dict):
            raise ValueError(f"{where} must be an object, got {type(data).__name__}")
        missing = [k for k in ("features", "mean", "std", "weights") if k not in data]
        if missing:
            raise ValueError(f"{where} needs {', '.join(missing)}")
        names = tuple(data["features"]) if isinstance(data["features"], (list, tuple)) else ()
        unknown = [k for k in names if k not in FEATURES]
        if not names or unknown:
            raise ValueError(
                f"{where}: unknown feature(s) {unknown or data['features']!r}; valid: {', '.join(FEATURES)}"
            )
        vectors = {k: _numbers(data[k], f"{where} {k}") for k in ("mean", "std", "weights")}
        bad = [k for k, v in vectors.items() if len(v) != len(names)]
        if bad:
            raise ValueError(f"{where}: {', '.join(bad)} need {len(names)} value(s), one per feature")
        if any(s <= 0 for s in vectors["std"]):
            raise ValueError(f"{where}: std must be > 0, got {list(vectors['std'])}")
        offset = _numbers([data.get("offset", 0.0)], f"{where} offset")[0]
        return cls(names, vectors["mean"], vectors["std"], vectors["weights"], offset)

    def factors(self, crops, logits) -> np.ndarray:
        """exp(offset + w · g(z)) per face: how much the model's temperature is stretched."""
        x = raw_features(self.features, crops, logits)
        if len(x) == 0:
            return np.ones(0)
        z = (x - np.asarray(self.mean)) / np.asarray(self.std)
        return np.exp(self.offset + shaped(self.features, z) @ np.asarray(self.weights))


def _numbers(values, where: str) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)) or any(isinstance(v, (bool, str)) or v is None for v in values):
        raise ValueError(f"{where} must be a list of numbers, got {values!r}")
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{where} must be a list of numbers, got {values!r}") from None
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"{where} must be finite, got {list(out)}")
    return out
