"""The robustness benchmark's perturbations, on real FER+ test crops."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens.eval.perturb import PERTURBATIONS, blur, jpeg, reframe, to_pixels

TEMPLATE = [[14.9, 18.1], [33.1, 18.1], [24.0, 28.5], [16.8, 36.1], [31.3, 36.1]]


@pytest.fixture(scope="module")
def crops(data_root):
    from affectlens.eval.datasets import load_ferplus

    fs = load_ferplus(data_root, "test")
    return np.asarray(fs.images[:16])


def _diff(a, b) -> float:
    return float(np.abs(a.astype(int) - b.astype(int)).mean())


def test_every_perturbation_keeps_shape_and_type_and_changes_the_pixels(crops):
    for title, fn in PERTURBATIONS.items():
        out = fn(crops, TEMPLATE)
        assert out.shape == crops.shape and out.dtype == np.uint8, title
        assert (_diff(out, crops) == 0) == (title == "none"), title


def test_degradations_grow_with_their_strength(crops):
    assert _diff(to_pixels(crops, 16), crops) > _diff(to_pixels(crops, 24), crops) > _diff(to_pixels(crops, 40), crops)
    assert _diff(blur(crops, 2.5), crops) > _diff(blur(crops, 0.8), crops)
    assert _diff(jpeg(crops, 10), crops) > _diff(jpeg(crops, 80), crops)
    assert _diff(reframe(crops, 1.0), crops) < 1.0  # zoom 1 is the crop itself


def test_framing_keeps_the_size_and_a_loose_crop_replicates_its_border(crops):
    side = crops.shape[1]
    tight, loose = reframe(crops, 1.2), reframe(crops, 0.8)
    assert np.array_equal(tight.shape, crops.shape) and np.array_equal(loose.shape, crops.shape)
    # a loose crop's border is replicated edge pixels: its outer ring varies less than the original's
    ring = np.ones((side, side), bool)
    ring[3:-3, 3:-3] = False
    assert loose[:, ring].std(axis=1).mean() < crops[:, ring].std(axis=1).mean()
