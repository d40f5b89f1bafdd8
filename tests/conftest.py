"""Shared fixtures: the real media and data sets under ../shared (never copied into the repo)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTLENS_SHARED", ROOT.parent / "shared"))
PHOTOS = SHARED / "media" / "photos"
VIDEOS = SHARED / "media" / "videos"
DATASETS = SHARED / "datasets"


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"test data missing: {path} (set AFFECTLENS_SHARED to the shared/ folder)")
    return path


@pytest.fixture(scope="session")
def photos() -> Path:
    return _require(PHOTOS)


@pytest.fixture(scope="session")
def videos() -> Path:
    """The real test videos (see ../shared/media/README.md)."""
    return _require(VIDEOS)


@pytest.fixture(scope="session")
def data_root() -> Path:
    return _require(DATASETS)


@pytest.fixture(autouse=True, scope="session")
def _data_env(tmp_path_factory):
    os.environ.setdefault("AFFECTLENS_DATA", str(DATASETS))
    # a developer's own `calibrate --write` overrides must not change what the tests measure
    os.environ["AFFECTLENS_HOME"] = str(tmp_path_factory.mktemp("affectlens-home"))
    yield


@pytest.fixture(scope="session")
def fer(data_root):
    from affectlens.eval.datasets import read_fer2013

    return read_fer2013(data_root)


@pytest.fixture(scope="session")
def fer_faces(fer, tmp_path_factory) -> list[Path]:
    """A few real FER2013 test rows written as PNG files, with their FER2013 labels."""
    emotion, pixels, usage = fer
    from PIL import Image

    folder = tmp_path_factory.mktemp("fer_rows")
    rows = np.flatnonzero(usage == "PrivateTest")[:12]
    out = []
    for r in rows:
        path = folder / f"row{r}_label{emotion[r]}.png"
        Image.fromarray(pixels[r]).save(path)
        out.append(path)
    return out


@pytest.fixture(autouse=True)
def _restore_model_registry():
    """Models a test registers (e.g. a freshly trained one made default) do not leak into later tests."""
    from affectlens import registry

    registry._load_builtin()
    models, default = dict(registry._REGISTRY), dict(registry._DEFAULT)
    yield
    registry._REGISTRY.clear()
    registry._REGISTRY.update(models)
    registry._DEFAULT.clear()
    registry._DEFAULT.update(default)


@pytest.fixture(autouse=True)
def _restore_affectlens_logger():
    """The CLI's main() gives the "affectlens" logger its own stderr handler and stops it from
    propagating; later tests that read log lines with caplog need it as it was."""
    import logging

    logger = logging.getLogger("affectlens")
    handlers, level, propagate = list(logger.handlers), logger.level, logger.propagate
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)
    logger.propagate = propagate
