"""Temperature scaling (Guo et al. 2017): one scalar T > 0 fitted by minimising the NLL."""

from __future__ import annotations

import numpy as np

from affectlens.models.expression import log_softmax


def nll(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    logp = log_softmax(logits, temperature)
    return float(-logp[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray, lo: float = 0.05, hi: float = 20.0) -> float:
    """The T in [lo, hi] minimising NLL of ``softmax(logits / T)`` (golden-section search on log T)."""
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) == 0:
        raise ValueError("cannot fit a temperature on zero samples")
    a, b = np.log(lo), np.log(hi)
    g = (np.sqrt(5) - 1) / 2
    c, d = b - g * (b - a), a + g * (b - a)
    fc, fd = nll(logits, labels, np.exp(c)), nll(logits, labels, np.exp(d))
    for _ in range(80):
        if fc < fd:
            b, d, fd = d, c, fc
            c = b - g * (b - a)
            fc = nll(logits, labels, np.exp(c))
        else:
            a, c, fc = c, d, fd
            d = a + g * (b - a)
            fd = nll(logits, labels, np.exp(d))
    return float(np.exp((a + b) / 2))


#: The crop measures of the quality-aware temperature (see affectlens.models.quality).
QUALITY_FEATURES = ("fine_detail", "flat_area", "max_logit")


def fit_quality_temperature(
    logits: np.ndarray, labels: np.ndarray, crops: np.ndarray, clean: np.ndarray, temperature: float
) -> dict:
    """The ``quality_temperature`` config entry fitted on ``crops`` (clean and degraded faces).

    Features are standardised with the mean and standard deviation of the ``clean`` rows;
    ``offset`` and the weights minimise the NLL of ``softmax(logits / T_i)`` with
    ``T_i = temperature * exp(offset + w . g(z_i))`` over all rows (L-BFGS, from T_i = temperature).
    """
    from scipy.optimize import minimize

    from affectlens.models.quality import raw_features, shaped

    logits, labels = np.asarray(logits, dtype=np.float64), np.asarray(labels, dtype=np.int64)
    clean = np.asarray(clean, dtype=bool)
    if len(labels) == 0 or not clean.any():
        raise ValueError("cannot fit a quality temperature without clean faces")
    x = raw_features(QUALITY_FEATURES, crops, logits)
    mean, std = x[clean].mean(axis=0), x[clean].std(axis=0)
    g = shaped(QUALITY_FEATURES, (x - mean) / std)
    rows = np.arange(len(labels))

    def loss(p: np.ndarray) -> float:
        logp = log_softmax(logits, (temperature * np.exp(p[0] + g @ p[1:]))[:, None])
        return float(-logp[rows, labels].mean())

    fit = minimize(loss, np.zeros(1 + len(QUALITY_FEATURES)), method="L-BFGS-B")
    return {
        "features": list(QUALITY_FEATURES),
        "mean": [round(float(v), 5) for v in mean],
        "std": [round(float(v), 5) for v in std],
        "weights": [round(float(v), 5) for v in fit.x[1:]],
        "offset": round(float(fit.x[0]), 5),
        "nll": round(float(fit.fun), 5),
    }
