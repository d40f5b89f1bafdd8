"""The appearance + geometry benchmark's features on real FER+ faces (benchmarks/geometry_head.py).

One PrivateTest face per FER+ class goes through the benchmark's own feature extraction: the
default model's logits and the photo path's face mesh, then the AU and frontal-mesh features.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from affectlens.labels import CANONICAL

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("geometry_head", ROOT / "benchmarks" / "geometry_head.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def one_per_class(bench, data_root):
    """Features of the first PrivateTest face of each FER+ class (majority label)."""
    from affectlens.eval.datasets import load_ferplus
    from affectlens.options import Options
    from affectlens.pipeline.image import Analyzer

    fs = load_ferplus(data_root, "test")
    rows = np.array([np.flatnonzero(fs.labels == c)[0] for c in range(len(CANONICAL))])
    analyzer = Analyzer(Options().replace(mesh="on"), threads=1)
    logits, mesh = bench.measure(analyzer, np.asarray(fs.images)[rows])
    return bench.Features(np.asarray(fs.ids)[rows], fs.labels[rows], logits, mesh)


@pytest.mark.slow
def test_features_of_real_faces_are_finite_and_shaped(bench, one_per_class):
    f = one_per_class
    assert f.logits.shape == (8, len(CANONICAL)) and np.isfinite(f.logits).all()
    assert f.mesh.shape == (8, 468, 3)
    assert f.meshed.sum() >= 6, f.meshed  # the photo path meshes most 48-px FER+ faces
    b = bench.blocks(f)
    assert b["au"].shape == (8, 13) and b["mesh"].shape == (8, 936)
    for key in ("au", "mesh"):
        assert np.isfinite(b[key][f.meshed]).all()
        assert np.isnan(b[key][~f.meshed]).all()
    # frontal frame over the inter-ocular distance: the outer eye corners are 1 apart
    pts = b["mesh"][f.meshed][0].reshape(468, 2)
    assert np.linalg.norm(pts[263] - pts[33]) == pytest.approx(1.0, abs=0.05)


@pytest.mark.slow
def test_faces_without_a_mesh_get_the_appearance_heads_answer(bench, one_per_class):
    f = one_per_class
    assert f.meshed.all(), f.meshed  # these eight faces all get a mesh: an 8-class head can be fitted
    b = bench.blocks(f)
    heads = {
        (name, False): bench.fit_head(bench.design(b, name), f.labels, 1.0, False)
        for name in ("appearance", "appearance + AU")
    }
    lost = bench.Features(f.ids, f.labels, f.logits, f.mesh.copy())
    lost.mesh[0] = np.nan
    combined = bench.head_probs(heads, "appearance + AU", False, lost)
    appearance = bench.head_probs(heads, "appearance", False, lost)
    assert combined.shape == (8, len(CANONICAL)) and np.allclose(combined.sum(axis=1), 1.0)
    assert np.allclose(combined[0], appearance[0])
    assert not np.allclose(combined[1:], appearance[1:])
