"""The ensemble text model (engine ``ensemble``): its registry entry, the mix of its members on
real rows, dialogue context, the input checks, ``uncertain`` and its config validation."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from affectlens.eval.datasets.text import load_text_dataset
from affectlens.labels import CANONICAL
from affectlens.models.text import load_text_model
from affectlens.models.text_ensemble import EnsembleTextModel, mix_log_probs
from affectlens.registry import MIXES, get_model_cfg

NAME = "text-ensemble"


@pytest.fixture(scope="module")
def model():
    return load_text_model(NAME)


def test_entry_names_its_registered_members_and_weights(model):
    cfg = model.cfg
    assert isinstance(model, EnsembleTextModel) and cfg.engine == "ensemble"
    assert cfg.members == ("text-minilm-q0", "text-tfidf-lr") and cfg.mix in MIXES
    assert sum(cfg.member_weights) == pytest.approx(1) and 0 < cfg.member_weights[0] < 1
    assert [m.cfg.name for m in model.members] == list(cfg.members)
    assert not any(m.check_language for m in model.members)  # the ensemble checks once
    assert cfg.temperature > 0 and model.thresholds.margin is not None and model.thresholds.min_max_logit is not None


def test_probabilities_are_the_members_mix_on_real_dialogue(model, data_root):
    """On real MELD rows with their dialogue context: the members' calibrated probabilities,
    mixed with the entry's weights, then the ensemble's temperature."""
    ds = load_text_dataset("meld", "test", data_root)
    texts, ctx = list(ds.texts[:40]), list(ds.contexts[:40])
    member_p = [m.predict_proba(texts, ctx)[:, [CANONICAL.index(x) for x in model.labels]] for m in model.members]
    w = model.cfg.member_weights
    if model.cfg.mix == "loglinear":
        logp = sum(wi * np.log(p) for wi, p in zip(w, member_p))
    else:
        logp = np.log(sum(wi * p for wi, p in zip(w, member_p)))
    z = np.exp((logp - logp.max(1, keepdims=True)) / model.cfg.temperature)
    expected = z / z.sum(1, keepdims=True)
    got = model.predict_proba(texts, ctx)
    np.testing.assert_allclose(got[:, [CANONICAL.index(x) for x in model.labels]], expected, atol=1e-9)
    np.testing.assert_allclose(got.sum(1), 1, atol=1e-9)
    assert (got[:, CANONICAL.index("contempt")] == 0).all()
    assert not np.allclose(model.predict_proba(texts), got, atol=1e-3)  # the context is used


def test_mix_is_a_weighted_mean():
    a, b = np.log([[0.7, 0.2, 0.1]]), np.log([[0.1, 0.3, 0.6]])
    lin = np.exp(mix_log_probs((a, b), (1.0, 1.0), (0.25, 0.75), "linear"))
    np.testing.assert_allclose(lin, [[0.25, 0.275, 0.475]])
    log = mix_log_probs((a, b), (1.0, 1.0), (0.5, 0.5), "loglinear")
    np.testing.assert_allclose(log - log[:, :1], np.log(np.sqrt([[0.07, 0.06, 0.06]]) / np.sqrt(0.07)))
    with pytest.raises(ValueError, match="unknown mix 'max'; valid: linear, loglinear"):
        mix_log_probs((a, b), (1.0, 1.0), (0.5, 0.5), "max")


def test_clear_real_rows_get_their_label(model, data_root):
    # "Thats absolutely disgusting." (GoEmotions, disgust); "i feel terrified because my landlord ..."
    # (dair, fear); "Thank you for a delightful stay." (MELD, joy)
    rows = [("goemotions", "eesysv3"), ("dair", "test:186"), ("meld", "dia29_utt11")]
    for name, row_id in rows:
        ds = load_text_dataset(name, "test", data_root)
        k = ds.ids.index(row_id)
        (r,) = model.predict([ds.texts[k]], [ds.contexts[k]])
        assert r.ok and r.label == CANONICAL[ds.labels[k]], (name, row_id, r.as_dict())


def test_uncertain_flags_worse_answers_on_real_rows(model, data_root):
    from affectlens.models.uncertainty import max_logit, top2_margin

    ds = load_text_dataset("goemotions", "test", data_root)
    texts = list(ds.texts[:200])
    results = model.predict(texts)
    logits = model.forward(texts)
    probs = model.postprocess(logits)
    flagged = (top2_margin(probs) < model.thresholds.margin) | (max_logit(logits) < model.thresholds.min_max_logit)
    assert [r.uncertain for r in results] == list(flagged)
    hit = ds.multi[np.arange(200), probs.argmax(1)]
    assert 0 < flagged.mean() < 1 and hit[flagged].mean() < hit[~flagged].mean() - 0.2


def test_config_is_validated():
    cfg = get_model_cfg(NAME, kind="text")
    with pytest.raises(ValueError, match="member_weights must be >= 0 and sum to 1"):
        replace(cfg, member_weights=(0.5, 0.6))
    with pytest.raises(ValueError, match="needs >= 2 members and one weight each"):
        replace(cfg, members=("text-tfidf-lr",), member_weights=(1.0,))
    with pytest.raises(ValueError, match="mix must be one of linear, loglinear, got 'max'"):
        replace(cfg, mix="max")
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        EnsembleTextModel(replace(cfg, members=("nope", "text-tfidf-lr")))
    with pytest.raises(ValueError, match="member 'text-ensemble' is itself an ensemble"):
        EnsembleTextModel(replace(cfg, members=(NAME, "text-tfidf-lr")))
