"""The quality-aware temperature (affectlens.models.quality) on real FER+ faces and real photos."""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pytest

from affectlens.eval.calibration import fit_quality_temperature, nll
from affectlens.eval.perturb import DEGRADATION_RANGES, blur, occlude_mouth, random_degradations, to_pixels
from affectlens.models.expression import ExpressionModel, softmax
from affectlens.models.quality import QualityTemperature
from affectlens.registry import ModelCfg, get_model_cfg


@pytest.fixture(scope="module")
def model() -> ExpressionModel:
    cfg = get_model_cfg()
    assert cfg.quality_temperature, "the default model ships a quality_temperature"
    return ExpressionModel(cfg, threads=2)


@pytest.fixture(scope="module")
def faces(data_root):
    from affectlens.eval.datasets import load_ferplus

    fs = load_ferplus(data_root, "test")
    return np.asarray(fs.images[:96])


def _logits(model, crops):
    return model.forward(model.preprocess(crops))


@pytest.mark.parametrize("degrade", ["blur", "16 px", "mouth covered"])
def test_degraded_real_faces_get_a_higher_temperature_and_lower_confidence(model, faces, degrade):
    bad = {
        "blur": lambda c: blur(c, 2.0),
        "16 px": lambda c: to_pixels(c, 16),
        "mouth covered": lambda c: occlude_mouth(c, model.cfg.template, 128),
    }[degrade](faces)
    t_clean = model.temperatures(_logits(model, faces), faces)
    z_bad = _logits(model, bad)
    t_bad = model.temperatures(z_bad, bad)
    assert (t_bad > t_clean).mean() >= 0.8
    assert t_bad.mean() > 1.15 * t_clean.mean()
    # on the same degraded faces: flatter than with the one temperature
    assert model.postprocess(z_bad, bad).max(1).mean() < model.postprocess(z_bad).max(1).mean() - 0.02


def test_the_top_label_never_changes(model, faces):
    crops = np.concatenate([faces, blur(faces, 1.5), to_pixels(faces, 16)])
    z = _logits(model, crops)
    p_one, p_quality = model.postprocess(z), model.postprocess(z, crops)
    assert np.array_equal(p_one.argmax(1), p_quality.argmax(1))
    assert np.allclose(p_quality.sum(1), 1.0)


def test_without_crops_or_without_the_field_the_one_temperature_is_used_exactly(model, faces):
    z = _logits(model, faces)
    assert np.array_equal(model.postprocess(z), softmax(z, model.cfg.temperature))
    plain = ExpressionModel(replace(model.cfg, quality_temperature={}), threads=1)
    assert plain.quality is None
    assert np.array_equal(plain.postprocess(z, faces), softmax(z, model.cfg.temperature))
    assert np.array_equal(plain.temperatures(z, faces), np.full(len(z), model.cfg.temperature))
    other = ExpressionModel(get_model_cfg("fer2013-lite0"), threads=1)  # shipped without the field
    z7 = _logits(other, faces)
    assert np.array_equal(other.postprocess(z7, faces), softmax(z7, other.cfg.temperature))


def test_image_analysis_uses_the_crops_temperature(photos):
    import affectlens

    an = affectlens.Analyzer()
    result = an.analyze(photos / "grace_hopper.jpg")
    from affectlens.pipeline.image import as_rgb

    _, rgb = as_rgb(photos / "grace_hopper.jpg")
    faces, _ = an.detect(rgb)
    crops = an.align(rgb, faces)
    expected = an.model.postprocess(an.logits(crops), crops)
    got = np.array([f.expression.probs for f in result.faces])
    assert len(got) >= 1 and np.allclose(got, expected, atol=1e-6)
    assert np.allclose([f.affect.confidence for f in result.faces], expected.max(1), atol=1e-6)


def test_a_crop_count_that_does_not_match_the_logits_is_refused(model, faces):
    z = _logits(model, faces[:4])
    with pytest.raises(ValueError, match="3 crops for 4 rows of logits"):
        model.postprocess(z, faces[:3])


def test_random_degradations_are_seeded_and_cover_every_kind(faces):
    template = get_model_cfg().template
    a, kinds = random_degradations(faces, template, seed=3)
    b, _ = random_degradations(faces, template, seed=3)
    c, _ = random_degradations(faces, template, seed=4)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.shape == faces.shape and a.dtype == np.uint8
    assert set(kinds.tolist()) == set(range(len(DEGRADATION_RANGES)))


def test_the_fit_on_real_faces_lowers_the_nll_and_makes_a_valid_config(model, data_root):
    from affectlens.eval.datasets import load_ferplus

    fs = load_ferplus(data_root, "val", rule="plurality")
    clean = np.asarray(fs.images[:600])
    y = np.array([model.labels.index(fs.label_names[i]) for i in fs.labels[:600]])
    bad, _ = random_degradations(clean, model.cfg.template, seed=0)
    crops = np.concatenate([clean, bad])
    z = np.concatenate([_logits(model, clean), _logits(model, bad)])
    yy = np.concatenate([y, y])
    fit = fit_quality_temperature(z, yy, crops, np.arange(len(crops)) < len(clean), model.cfg.temperature)
    q = QualityTemperature.from_config(fit, "fitted")
    t = model.cfg.temperature * q.factors(crops, z)
    p = softmax(z, t[:, None])
    assert -np.log(p[np.arange(len(yy)), yy]).mean() < nll(z, yy, model.cfg.temperature) - 0.002
    assert t[len(clean) :].mean() > t[: len(clean)].mean()  # degraded copies get the higher temperatures


BAD_CONFIGS = [
    ([], "must be an object, got list"),
    ({"features": ["fine_detail"], "mean": [0.0], "std": [1.0]}, "needs weights"),
    (
        {"features": ["sharpness"], "mean": [0.0], "std": [1.0], "weights": [0.1]},
        "unknown feature(s) ['sharpness']; valid: fine_detail, flat_area, max_logit",
    ),
    (
        {"features": ["fine_detail", "flat_area"], "mean": [0.0], "std": [1.0, 1.0], "weights": [0.1, 0.1]},
        "mean need 2 value(s), one per feature",
    ),
    ({"features": ["flat_area"], "mean": [0.0], "std": [0.0], "weights": [0.1]}, "std must be > 0"),
    ({"features": ["flat_area"], "mean": ["a"], "std": [1.0], "weights": [0.1]}, "mean must be a list of numbers"),
    (
        {"features": ["flat_area"], "mean": [0.0], "std": [1.0], "weights": [0.1], "offset": float("nan")},
        "offset must be finite",
    ),
]


@pytest.mark.parametrize("bad,reason", BAD_CONFIGS)
def test_bad_configs_name_the_model_and_the_reason(bad, reason):
    entry = {**get_model_cfg().to_json(), "name": "broken", "quality_temperature": bad}
    with pytest.raises(ValueError, match=re.escape("model 'broken': quality_temperature") + ".*" + re.escape(reason)):
        ModelCfg.from_json(entry, get_model_cfg().path.parent)


def test_uncertain_rises_on_blurred_real_faces(model, faces):
    from affectlens.models.uncertainty import assess_faces
    from affectlens.types import Face

    bad = blur(faces, 2.0)
    z = _logits(model, bad)
    boxes = [Face(box=(0.0, 0.0, 200.0, 200.0), score=1.0, landmarks=()) for _ in bad]

    def ambiguous(probs) -> float:
        affects = assess_faces(model, boxes, bad, z, probs)
        return float(np.mean(["ambiguous" in a.uncertain_reason.split(";") for a in affects]))

    assert ambiguous(model.postprocess(z, bad)) > ambiguous(model.postprocess(z)) + 0.03
