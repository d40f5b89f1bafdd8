"""Pure functions of valence/arousal, uncertainty, threshold rules and risk-coverage, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectlens.eval.abstention import fit_margin_threshold, fit_min_size
from affectlens.eval.metrics import risk_coverage, selective_accuracy
from affectlens.labels import CANONICAL, FER2013_LABELS
from affectlens.models.uncertainty import (
    Thresholds,
    compound_label,
    energy,
    entropy,
    mask_region,
    max_logit,
    region_boxes,
    region_texture,
    split_row,
    top2_margin,
    uncertain_reasons,
    yaw_from_landmarks,
)
from affectlens.models.valence_arousal import PROTOTYPES, valence_arousal


def onehot(label, labels=CANONICAL):
    p = np.zeros(len(labels))
    p[labels.index(label)] = 1.0
    return p


def test_prototypes_are_the_documented_circumplex_points():
    assert PROTOTYPES["neutral"] == (0.0, 0.0)
    assert PROTOTYPES["happiness"] == pytest.approx((0.92388, 0.382683), abs=1e-5)  # 22.5 deg
    assert PROTOTYPES["surprise"] == pytest.approx((0.0, 1.0), abs=1e-6)
    assert PROTOTYPES["sadness"] == pytest.approx((-0.92388, -0.382683), abs=1e-5)  # 202.5 deg
    assert PROTOTYPES["anger"] == pytest.approx((-0.382683, 0.92388), abs=1e-5)  # 112.5 deg
    assert PROTOTYPES["fear"] == pytest.approx((-0.707107, 0.707107), abs=1e-5)
    assert PROTOTYPES["contempt"] == pytest.approx((-1.0, 0.0), abs=1e-6)
    assert set(PROTOTYPES) == set(CANONICAL)


def test_valence_arousal_is_the_probability_weighted_prototype():
    assert valence_arousal(onehot("anger"), CANONICAL) == pytest.approx([-0.382683, 0.92388], abs=1e-5)
    half = (onehot("happiness") + onehot("sadness")) / 2  # opposite points cancel
    assert valence_arousal(half, CANONICAL) == pytest.approx([0.0, 0.0], abs=1e-6)
    p = 0.5 * onehot("surprise") + 0.25 * onehot("neutral") + 0.25 * onehot("contempt")
    assert valence_arousal(p, CANONICAL) == pytest.approx([-0.25, 0.5], abs=1e-6)
    # label order of the 7-class model does not matter
    assert valence_arousal(onehot("fear", FER2013_LABELS), FER2013_LABELS) == pytest.approx(
        [-0.707107, 0.707107], abs=1e-5
    )
    rng = np.random.default_rng(0)
    va = valence_arousal(rng.dirichlet(np.ones(8), size=500), CANONICAL)
    assert va.shape == (500, 2) and np.all(np.abs(va) <= 1.0)
    with pytest.raises(ValueError, match="no valence/arousal prototype.*calm"):
        valence_arousal([0.5, 0.5], ("happiness", "calm"))


def test_scores_by_hand():
    assert top2_margin([[0.5, 0.3, 0.2], [0.9, 0.05, 0.05]]) == pytest.approx([0.2, 0.85])
    assert entropy([0.5, 0.5]) == pytest.approx(math.log(2))
    assert energy([[0.0, math.log(3)]]) == pytest.approx([-math.log(4)])
    assert max_logit([[1.0, -2.0, 3.5]]) == pytest.approx([3.5])


def test_yaw_from_five_landmarks():
    eyes, mouth = [(0, 0), (10, 0)], [(2, 10), (8, 10)]
    assert yaw_from_landmarks([*eyes, (5, 5), *mouth]) == pytest.approx(0.0)
    # nose 2.5 px right of the midline, inter-ocular 10 px: atan(0.25 / 0.5)
    assert yaw_from_landmarks([*eyes, (7.5, 5), *mouth]) == pytest.approx(math.degrees(math.atan(0.5)))
    assert yaw_from_landmarks([*eyes, (2.5, 5), *mouth]) == pytest.approx(-math.degrees(math.atan(0.5)))
    # rotating the whole face in the image plane does not change yaw
    rot = np.array([[math.cos(0.5), -math.sin(0.5)], [math.sin(0.5), math.cos(0.5)]])
    pts = np.array([*eyes, (7.5, 5), *mouth], float) @ rot.T
    assert yaw_from_landmarks(pts) == pytest.approx(math.degrees(math.atan(0.5)))
    assert math.isnan(yaw_from_landmarks([]))


def test_compound_label_format():
    labels = ("neutral", "happiness", "surprise")
    assert compound_label([0.2, 0.42, 0.38], labels, 0.1) == "happiness+surprise"
    assert compound_label([0.2, 0.42, 0.38], labels, 0.03) == "happiness"
    assert compound_label([0.2, 0.42, 0.38], labels, None) == "happiness"


def test_uncertain_reasons_in_order():
    t = Thresholds(margin=0.2, min_face_px=30, max_yaw_deg=40, eyes_energy=-3.0, mouth_energy=-2.0, min_max_logit=1.0)
    assert uncertain_reasons(t, 0.5, 100, 5.0, -5.0, -5.0, 4.0) == ()
    assert uncertain_reasons(t, 0.1, 20, -50.0, -5.0, -1.0, 0.5) == (
        "ambiguous",
        "small face",
        "turned",
        "occluded",
        "unknown class",
    )
    assert uncertain_reasons(t, 0.5, 100, float("nan"), -2.5, -5.0, 4.0) == ("occluded",)
    tex = Thresholds(eyes_texture=5.0, mouth_texture=5.0)
    assert uncertain_reasons(tex, 0.5, 100, 0.0, -5.0, -5.0, 4.0, 20.0, 20.0) == ()
    assert uncertain_reasons(tex, 0.5, 100, 0.0, -5.0, -5.0, 4.0, 20.0, 1.0) == ("occluded",)
    assert uncertain_reasons(Thresholds(), 0.0, 1, 90.0, 9.0, 9.0, -9.0) == ()  # no thresholds, no reasons
    assert Thresholds.from_config({"margin": 0.2, "rules": {"margin": "text"}}).margin == 0.2


def test_region_masks_split_at_the_nose():
    template = ((14.875, 18.125), (33.125, 18.125), (24.0, 28.5), (16.75, 36.125), (31.25, 36.125))
    assert split_row(template, 48) == 26  # floor(28.5) - 2
    crops = np.zeros((1, 48, 48), np.uint8)
    assert (mask_region(crops, "eyes", 26)[0, :26] == 128).all() and (mask_region(crops, "eyes", 26)[0, 26:] == 0).all()
    assert (mask_region(crops, "mouth", 26)[0, 26:] == 128).all()
    with pytest.raises(ValueError, match="valid: eyes, mouth"):
        mask_region(crops, "nose", 27)


def test_threshold_rules_by_hand():
    margin = np.arange(100) / 100.0  # faces 0..99; the 60 least separated are right 1 time in 3
    correct = np.array([i % 3 == 0 for i in range(60)] + [True] * 40)
    t = fit_margin_threshold(margin, correct, min_count=10)
    # cumulative accuracy stays <= 0.5 up to the largest k with (#right in first k) / k <= 0.5
    cum = np.cumsum(correct) / np.arange(1, 101)
    k = np.flatnonzero(cum <= 0.5)[-1]
    assert t == pytest.approx((margin[k] + margin[k + 1]) / 2)
    assert fit_margin_threshold(margin, np.ones(100, bool), min_count=10) == 0.0
    assert fit_min_size([8, 12, 16, 24], [0.3, 0.6, 0.78, 0.8], 0.82) == 16.0


def test_risk_coverage_by_hand():
    conf = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05]
    correct = [1, 1, 1, 1, 0, 1, 0, 1, 0, 0]
    rc = risk_coverage(conf, correct)
    assert [e["n"] for e in rc] == [5, 8, 10]
    assert [e["accuracy"] for e in rc] == pytest.approx([0.8, 0.75, 0.6])
    assert rc[1]["min_confidence"] == 0.2
    assert selective_accuracy([1, 0, 1, 1], [True, False, True, False]) == (0.5, 1.0)
    with pytest.raises(ValueError, match="coverage"):
        risk_coverage(conf, correct, coverages=(0.0,))


def test_region_texture_by_hand():
    template = ((14.875, 18.125), (33.125, 18.125), (24.0, 28.5), (16.75, 36.125), (31.25, 36.125))
    boxes = region_boxes(template, 48)
    assert boxes["eyes"] == (slice(13, 26), slice(10, 38)) and boxes["mouth"] == (slice(26, 43), slice(10, 38))
    flat = np.full((1, 48, 48), 90, np.uint8)
    checker = ((np.indices((48, 48)).sum(0) % 2) * 255).astype(np.uint8)[None]  # std 127.5 in every tile
    assert [float(v[0]) for v in region_texture(flat, template, 48)] == [0.0, 0.0]
    eyes, mouth = region_texture(checker, template, 48)
    assert eyes[0] == pytest.approx(127.5) and mouth[0] == pytest.approx(127.5)
    half = checker.copy()
    half[:, 26:] = 90  # mouth region plain: a cover
    eyes, mouth = region_texture(half, template, 48)
    assert eyes[0] == pytest.approx(127.5) and mouth[0] == 0.0
    rgb = np.repeat(checker[..., None], 3, axis=3)
    assert region_texture(rgb, template, 48)[0][0] == pytest.approx(127.5)
