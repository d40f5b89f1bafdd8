"""Scoring protocols for the text emotion data sets (pure functions over probability arrays).

* **GoEmotions** (7 Ekman groups incl. neutral; macro-F1). Some rows carry several groups. Two
  scorings, both reported:

  - ``single``: only the test rows with exactly one group (91.5 % of the test split);
  - ``any``: every row; a multi-label row counts as the predicted group when the prediction is
    one of its groups, else as its first group (``labels.txt`` order). A single-label model
    cannot be asked to name every group of a row, so it is not penalised for naming one.

* **dair-ai emotion** (accuracy, macro-F1): ``love`` is mapped to ``happiness`` (5 classes
  remain); the prediction is the arg-max over those 5 labels (the data set has no neutral or
  disgust rows). The unrestricted arg-max over all labels is reported as well.
* **MELD** (weighted-F1 over its 7 emotions, utterances scored with the 2 previous turns of
  their dialogue as context; the score without context is reported as well).
"""

from __future__ import annotations

import numpy as np

from affectlens.eval.metrics import accuracy, confusion_matrix, macro_f1, per_class, weighted_f1
from affectlens.labels import CANONICAL

DAIR_LABELS = ("happiness", "surprise", "sadness", "anger", "fear")
_K = len(CANONICAL)


def restrict(probs: np.ndarray, labels) -> np.ndarray:
    """Arg-max over ``labels`` only (indices into the canonical labels)."""
    allowed = np.asarray([CANONICAL.index(label) for label in labels])
    return allowed[np.argmax(np.asarray(probs)[:, allowed], axis=1)]


def _report(cm: np.ndarray, labels=CANONICAL) -> dict:
    pc = per_class(cm)
    present = pc["support"] > 0
    return {
        "n": int(cm.sum()),
        "accuracy": accuracy(cm),
        "macro_f1": macro_f1(cm),
        "weighted_f1": weighted_f1(cm),
        "per_class_f1": {labels[i]: round(float(pc["f1"][i]), 4) for i in np.flatnonzero(present)},
    }


def score_goemotions(probs: np.ndarray, labels: np.ndarray, multi: np.ndarray) -> dict:
    """``single`` and ``any`` scorings (module doc) of (N, 8) probabilities."""
    pred = np.argmax(probs, axis=1)
    single = multi.sum(axis=1) == 1
    hit = multi[np.arange(len(pred)), pred]
    gold_any = np.where(hit, pred, labels)
    return {
        "single": _report(confusion_matrix(labels[single], pred[single], _K)),
        "any": _report(confusion_matrix(gold_any, pred, _K)),
        "multi_label_rows": int((~single).sum()),
    }


def score_dair(probs: np.ndarray, labels: np.ndarray) -> dict:
    restricted = _report(confusion_matrix(labels, restrict(probs, DAIR_LABELS), _K))
    free = _report(confusion_matrix(labels, np.argmax(probs, axis=1), _K))
    return {"restricted": restricted, "unrestricted": free}


def score_meld(probs: np.ndarray, labels: np.ndarray) -> dict:
    return _report(confusion_matrix(labels, np.argmax(probs, axis=1), _K))
