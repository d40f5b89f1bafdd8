"""The fusion rule on hand-computed values (see affectlens.fusion.rule for the rule)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from affectlens.fusion import FusionOptions, Vote, fuse, modality_weight, reliability_weight
from affectlens.fusion.segments import FaceSeries, face_in_window, fuse_segment
from affectlens.labels import CANONICAL
from affectlens.models.speech import SPEECH_LABELS, to_canonical
from affectlens.registry import get_model_cfg
from affectlens.types import Expression, VoiceSegment

NO_CONTEMPT = CANONICAL[:7]


def test_one_modality_gives_its_smoothed_distribution():
    f = fuse({"face": Vote((0.5, 0.5, 0, 0, 0, 0, 0, 0), 1.0)})
    # q = 0.98 p + 0.02 / 8
    np.testing.assert_allclose(f.probs, [0.4925, 0.4925] + [0.0025] * 6, atol=1e-12)
    assert f.modalities == ("face",)


def test_weighted_log_linear_pool_by_hand():
    # face uniform (weight 3) cancels out; voice (weight 1, no contempt) sure of neutral:
    # q_voice = 0.98 + 0.02/7 on neutral, 0.02/7 elsewhere; normalised weights 0.75 / 0.25;
    # contempt gets the voice's average vote exp(0.25 * mean log q_voice).
    f = fuse({"face": Vote((1 / 8,) * 8, 3.0), "voice": Vote((1, 0, 0, 0, 0, 0, 0, 0), 1.0, NO_CONTEMPT)})
    qn, qo = 0.98 + 0.02 / 7, 0.02 / 7
    a, b = qn**0.25, qo**0.25
    c = math.exp(0.25 * (math.log(qn) + 6 * math.log(qo)) / 7)
    s = a + 6 * b + c
    np.testing.assert_allclose(f.probs, [a / s] + [b / s] * 6 + [c / s], atol=1e-12)
    np.testing.assert_allclose(f.probs, [0.37324] + [0.08667] * 6 + [0.10677], atol=1e-5)  # the numbers
    assert f.top == "neutral" and f.modalities == ("face", "voice")


def test_missing_modality_is_no_vote_not_a_zero_vote():
    face = Vote((0.1, 0.6, 0.1, 0.05, 0.05, 0.04, 0.03, 0.03), 0.8)
    alone = fuse({"face": face})
    assert fuse({"face": face, "voice": None, "text": None}) == alone
    assert fuse({"face": face, "voice": Vote((1,) + (0,) * 7, 0.0, NO_CONTEMPT)}) == alone  # weight 0: no vote
    assert alone.modalities == ("face",)


def test_labels_no_modality_can_express_stay_zero():
    f = fuse({"voice": Vote((0, 0, 0, 0, 1, 0, 0, 0), 0.5, NO_CONTEMPT)})
    assert f.as_dict()["contempt"] == 0.0 and f.top == "anger"
    assert pytest.approx(sum(f.probs)) == 1.0


def test_nothing_to_fuse_is_empty():
    f = fuse({"face": None, "voice": None})
    assert f.probs == () and f.top is None and f.modalities == ()


def test_reliability_weight_from_measured_metrics():
    # face model: FER+ test accuracy 0.8392, ECE 0.024, 8 classes (its models.json)
    assert reliability_weight(0.8392, 0.024, 8) == pytest.approx((0.8392 - 0.125) / 0.875 * 0.976)
    assert reliability_weight(0.10, 0.0, 8) == 0.0  # below chance: no weight
    cfg = get_model_cfg("ferplus-lite0")
    assert modality_weight(cfg) == pytest.approx(
        reliability_weight(cfg.metrics["ferplus_plurality_test_acc"], cfg.metrics["ferplus_plurality_test_ece"], 8)
    )
    with pytest.raises(ValueError, match="unknown modality.*valid: face, voice, text"):
        FusionOptions(weights={"smell": 1.0})


def test_calm_folds_into_neutral_in_the_canonical_space():
    p = np.array([[0.1, 0.3, 0.2, 0.1, 0.1, 0.1, 0.05, 0.05]])  # SPEECH_LABELS order, calm = 0.3
    c = to_canonical(p, SPEECH_LABELS)
    assert c[0, CANONICAL.index("neutral")] == pytest.approx(0.4)
    assert c[0, CANONICAL.index("contempt")] == 0.0 and c.sum() == pytest.approx(1.0)


def test_segment_face_average_and_records_per_track():
    labels = CANONICAL
    t0 = FaceSeries(
        0,
        labels,
        np.array([0.0, 100.0, 200.0, 900.0]),
        np.array([np.eye(8)[1], np.eye(8)[1], np.eye(8)[0], np.eye(8)[4]]),
    )
    t1 = FaceSeries(1, labels, np.array([2000.0]), np.array([np.eye(8)[2]]))
    mean, n = face_in_window(t0, 0.0, 300.0)
    assert n == 3 and mean[1] == pytest.approx(2 / 3) and mean[0] == pytest.approx(1 / 3)
    voice = VoiceSegment(0.0, 300.0, 0.9, Expression(SPEECH_LABELS, (0, 0, 1, 0, 0, 0, 0, 0)))
    recs = fuse_segment(
        "x",
        0.0,
        300.0,
        "speech",
        voice=voice,
        faces=[t0, t1],
        text=None,
        weights={"face": 1.0, "voice": 1.0},
        options=FusionOptions(),
    )
    assert len(recs) == 1 and recs[0].track == 0 and recs[0].face_frames == 3  # track 1 is not in the window
    assert recs[0].modalities == ("face", "voice") and recs[0].fused.top == "happiness"
    # a text source is one more optional vote
    recs = fuse_segment(
        "x",
        1500.0,
        2500.0,
        "speech",
        voice=None,
        faces=[t0, t1],
        text=lambda a, b: {"sadness": 0.9, "neutral": 0.1},
        weights={"face": 1.0, "voice": 1.0, "text": 1.0},
        options=FusionOptions(),
    )
    assert [r.track for r in recs] == [1] and recs[0].modalities == ("face", "text")
    assert recs[0].voice is None and recs[0].text.as_dict()["sadness"] == pytest.approx(0.9)


def test_text_cues_overlap_weighted_and_failed_texts_give_no_vote():
    from affectlens.fusion.text import Cue, cue_source

    calls = []

    def classify(texts):  # hand-made distributions standing in for a text model
        calls.append(list(texts))
        table = {"I am so happy": np.eye(8)[1], "this is awful": np.eye(8)[3], "": np.zeros(8)}
        probs = np.stack([table.get(t, np.full(8, 1 / 8)) for t in texts])
        return probs, ["ok" if t in table else "unsupported language" for t in texts]

    src = cue_source(
        [Cue(0, 1000, "I am so happy"), Cue(1000, 2000, "this is awful"), Cue(2000, 3000, "hola amigos")], classify
    )
    d = src(500, 2000)  # 500 ms of the happy cue, 1000 ms of the sad one
    assert d["happiness"] == pytest.approx(1 / 3) and d["sadness"] == pytest.approx(2 / 3)
    assert src(2100, 2900) is None  # only the unsupported-language cue: no vote
    assert src(5000, 6000) is None  # no words
    src(0, 3000)
    assert sum(len(c) for c in calls) == 3  # every cue classified once
