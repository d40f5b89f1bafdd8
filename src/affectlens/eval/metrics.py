"""Pure metric functions over integer labels and probability arrays."""

from __future__ import annotations

import numpy as np


def confusion_matrix(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(n_classes, n_classes) counts; rows are true classes, columns predicted classes."""
    y_true, y_pred = np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (y_true, y_pred), 1)
    return cm


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class (0 where undefined)."""
    tp = np.diag(cm).astype(np.float64)
    pred = cm.sum(axis=0).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1, "support": support.astype(np.int64)}


def accuracy(cm: np.ndarray) -> float:
    total = cm.sum()
    return float(np.trace(cm) / total) if total else float("nan")


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over the classes that occur in the true labels."""
    pc = per_class(cm)
    present = pc["support"] > 0
    return float(pc["f1"][present].mean()) if present.any() else float("nan")


def balanced_accuracy(cm: np.ndarray) -> float:
    """Mean recall over the classes that occur in the true labels."""
    pc = per_class(cm)
    present = pc["support"] > 0
    return float(pc["recall"][present].mean()) if present.any() else float("nan")


def expected_calibration_error(probs, y_true, n_bins: int = 15) -> float:
    """Top-label ECE with ``n_bins`` equal-width confidence bins (Guo et al. 2017)."""
    probs = np.asarray(probs, dtype=np.float64)
    y_true = np.asarray(y_true)
    if len(probs) == 0:
        return float("nan")
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == y_true
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    bins = np.clip(np.searchsorted(edges, conf, side="left") - 1, 0, n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        m = bins == b
        if m.any():
            ece += m.mean() * abs(correct[m].mean() - conf[m].mean())
    return float(ece)


def weighted_f1(cm: np.ndarray) -> float:
    """F1 per class averaged with the true-class supports as weights (MELD's usual score)."""
    pc = per_class(cm)
    total = pc["support"].sum()
    return float((pc["f1"] * pc["support"]).sum() / total) if total else float("nan")


def risk_coverage(confidence, correct, coverages=(0.5, 0.8, 1.0)) -> list[dict]:
    """Accuracy when answering only the most confident fraction of samples, per coverage.

    Samples are ranked by ``confidence`` (ties keep their order); coverage ``c`` answers the
    first ``ceil(c * n)``. Each entry: ``coverage``, ``n`` answered, ``accuracy`` and
    ``min_confidence`` (the confidence of the last answered sample).
    """
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    order = np.argsort(-confidence, kind="stable")
    out = []
    for c in coverages:
        if not 0 < c <= 1:
            raise ValueError(f"coverage must be in (0, 1], got {c}")
        k = int(np.ceil(c * len(order) - 1e-9))
        kept = order[:k]
        out.append(
            {
                "coverage": float(c),
                "n": k,
                "accuracy": float(correct[kept].mean()) if k else float("nan"),
                "min_confidence": float(confidence[kept[-1]]) if k else float("nan"),
            }
        )
    return out


def selective_accuracy(correct, answered) -> tuple[float, float]:
    """(coverage, accuracy over the answered samples) of an abstention rule."""
    correct = np.asarray(correct, dtype=bool)
    answered = np.asarray(answered, dtype=bool)
    if len(correct) == 0:
        return float("nan"), float("nan")
    cov = float(answered.mean())
    return cov, float(correct[answered].mean()) if answered.any() else float("nan")


def cohens_d(a, b) -> float:
    """Cohen's d of ``a`` over ``b``: difference of means over the pooled standard deviation
    (NaN values ignored; NaN when either group has fewer than two values)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    pooled = ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    if pooled <= 0:
        return float("nan")
    return float((a.mean() - b.mean()) / np.sqrt(pooled))
