"""The classifier quantisation step (train/quantize.py) on the shipped model and real FER2013 crops."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from affectlens.models.expression import ExpressionModel
from affectlens.registry import get_model_cfg
from affectlens.train.quantize import VARIANTS, calibration_inputs, float32_cfg, quantize_classifier


def test_unknown_variant_lists_the_valid_ones(tmp_path):
    cfg = get_model_cfg(None)
    with pytest.raises(ValueError, match="valid: int8, int8-dynamic, float16"):
        quantize_classifier(cfg.path, tmp_path / "x.onnx", "int4", cfg)


def test_calibration_inputs_are_preprocessed_crops_and_their_mirrors(fer):
    cfg = get_model_cfg(None)
    crops = fer[1][:3]
    x = calibration_inputs(cfg, crops)
    ref = ExpressionModel(cfg).preprocess(crops)
    assert x.shape == (6, *ref.shape[1:]) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:3], ref)
    np.testing.assert_array_equal(x[3:], ref[:, :, :, ::-1])


@pytest.mark.parametrize("variant", VARIANTS)
def test_variants_agree_with_float32_on_real_test_faces(fer, tmp_path, variant):
    """Calibrated on training crops, scored on PrivateTest crops: the variant's top label matches
    float32's on nearly every face (the accuracy budget itself is benchmarks/classifier_variants.py)."""
    _, pixels, usage = fer
    cfg = float32_cfg(get_model_cfg(None))
    train, test = pixels[usage == "Training"][:64], pixels[usage == "PrivateTest"][:200]
    path = quantize_classifier(cfg.path, tmp_path / f"{variant}.onnx", variant, cfg, train)
    ref = ExpressionModel(cfg).predict(test)
    got = ExpressionModel(dataclasses.replace(cfg, file=path.name, folder=str(tmp_path))).predict(test)
    assert got.shape == ref.shape and np.allclose(got.sum(1), 1.0, atol=1e-5)
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.9


def test_the_default_model_runs_its_int8_variant_made_from_the_shipped_float32_file(fer):
    """The default entry points at the int8 file (benchmarks/classifier_variants.py: FER+ test
    within 0.3 points of float32); float32_cfg finds the float32 file it was made from, and the
    two agree on real test faces."""
    _, pixels, usage = fer
    cfg = get_model_cfg(None)
    ref_cfg = float32_cfg(cfg)
    assert cfg.file.endswith("-int8.onnx") and ref_cfg.file != cfg.file and ref_cfg.path.is_file()
    test = pixels[usage == "PrivateTest"][:300]
    got, ref = ExpressionModel(cfg).predict(test), ExpressionModel(ref_cfg).predict(test)
    assert (got.argmax(1) == ref.argmax(1)).mean() >= 0.95
    assert np.abs(got - ref).max() < 0.2
