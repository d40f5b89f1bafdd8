"""``ferplus-lite0-robust``: what users choose it for, on real FER+ test faces (majority rule).

The full table (every perturbation, all 3,153 faces) is ``benchmarks/robustness.py``; here the
first 800 test faces keep the claims of its model card true: much better on small and blurred
faces, about as good on clean ones, and the same labels and speed class as the default.
"""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.eval.datasets import load_ferplus
from affectlens.eval.perturb import PERTURBATIONS
from affectlens.models.expression import ExpressionModel
from affectlens.registry import default_model_name, get_model_cfg

N = 800


@pytest.fixture(scope="module")
def test_faces(data_root):
    fs = load_ferplus(data_root, "test")
    return np.asarray(fs.images)[:N], np.asarray(fs.label_names)[np.asarray(fs.labels)[:N]]


def accuracy(name: str, crops: np.ndarray, truth: np.ndarray) -> float:
    model = ExpressionModel(get_model_cfg(name), threads=2)
    labels = np.asarray(model.labels)[model.predict(crops).argmax(1)]
    return float((labels == truth).mean())


def test_robust_model_is_registered_beside_the_default_not_instead_of_it():
    assert default_model_name() == "ferplus-lite0"
    robust, default = get_model_cfg("ferplus-lite0-robust"), get_model_cfg("ferplus-lite0")
    assert robust.labels == default.labels and robust.path.is_file()
    assert get_model_cfg("fer2013-lite0-robust").labels == get_model_cfg("fer2013-lite0").labels


@pytest.mark.parametrize(
    ("perturbation", "gain"), [("16 px face", 0.08), ("blur (radius 1.5 px)", 0.08), ("24 px face", 0.02)]
)
def test_robust_model_reads_small_and_blurred_faces_better(test_faces, perturbation, gain):
    images, truth = test_faces
    crops = PERTURBATIONS[perturbation](images, get_model_cfg("ferplus-lite0").template)
    assert accuracy("ferplus-lite0-robust", crops, truth) >= accuracy("ferplus-lite0", crops, truth) + gain


def test_robust_model_stays_close_on_clean_faces(test_faces):
    images, truth = test_faces
    robust, default = accuracy("ferplus-lite0-robust", images, truth), accuracy("ferplus-lite0", images, truth)
    assert robust >= 0.8 and robust >= default - 0.02
