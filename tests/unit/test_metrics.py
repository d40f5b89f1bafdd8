"""Metric functions against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.eval import metrics


def test_confusion_and_scores_by_hand():
    # true: 0 0 0 1 1 2 ; pred: 0 0 1 1 2 2
    y = [0, 0, 0, 1, 1, 2]
    p = [0, 0, 1, 1, 2, 2]
    cm = metrics.confusion_matrix(y, p, 3)
    assert cm.tolist() == [[2, 1, 0], [0, 1, 1], [0, 0, 1]]
    assert metrics.accuracy(cm) == pytest.approx(4 / 6)
    pc = metrics.per_class(cm)
    # precision: 2/2, 1/2, 1/2 ; recall: 2/3, 1/2, 1/1
    np.testing.assert_allclose(pc["precision"], [1.0, 0.5, 0.5])
    np.testing.assert_allclose(pc["recall"], [2 / 3, 0.5, 1.0])
    f1 = [2 * 1 * (2 / 3) / (1 + 2 / 3), 0.5, 2 * 0.5 / 1.5]
    np.testing.assert_allclose(pc["f1"], f1)
    assert metrics.macro_f1(cm) == pytest.approx(np.mean(f1))
    assert metrics.balanced_accuracy(cm) == pytest.approx((2 / 3 + 0.5 + 1) / 3)
    assert pc["support"].tolist() == [3, 2, 1]


def test_absent_class_is_not_averaged():
    cm = metrics.confusion_matrix([0, 0, 1], [0, 2, 1], 3)  # class 2 never true
    assert metrics.macro_f1(cm) == pytest.approx((2 * 1 * 0.5 / 1.5 + 1.0) / 2)
    assert metrics.balanced_accuracy(cm) == pytest.approx(0.75)


def test_ece_by_hand():
    # two bins used: conf 0.9 (2 samples, 1 right) and conf 0.6 (2 samples, 2 right)
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.4, 0.6], [0.4, 0.6]])
    y = np.array([0, 1, 1, 1])
    expected = 0.5 * abs(0.5 - 0.9) + 0.5 * abs(1.0 - 0.6)
    assert metrics.expected_calibration_error(probs, y) == pytest.approx(expected)


def test_perfectly_calibrated_is_zero():
    probs = np.array([[1.0, 0.0]] * 4)
    assert metrics.expected_calibration_error(probs, [0, 0, 0, 0]) == 0.0


def test_temperature_recovers_the_generating_temperature():
    from affectlens.eval.calibration import fit_temperature

    rng = np.random.default_rng(0)
    true_logits = rng.normal(size=(4000, 5)) * 2.0
    p = np.exp(true_logits) / np.exp(true_logits).sum(axis=1, keepdims=True)
    labels = np.array([rng.choice(5, p=row) for row in p])
    # a model 3x over-confident: its logits are the true ones times 3
    assert fit_temperature(true_logits * 3.0, labels) == pytest.approx(3.0, rel=0.1)


def test_cohens_d():
    from affectlens.eval.metrics import cohens_d

    a, b = np.array([2.0, 4.0, 6.0]), np.array([1.0, 2.0, 3.0, np.nan])
    pooled = np.sqrt((2 * 4.0 + 2 * 1.0) / 4)  # variances 4 and 1, three values each
    assert cohens_d(a, b) == pytest.approx(2.0 / pooled)
    assert cohens_d(b, a) == pytest.approx(-2.0 / pooled)
    assert np.isnan(cohens_d([1.0], b)) and np.isnan(cohens_d([1.0, 1.0], [1.0, 1.0]))
