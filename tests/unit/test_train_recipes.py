"""The shipped training recipes: each loads, and the ONNX files they start from or distil from
are found from any folder (paths written from the repository root also resolve inside the
package), or fail at once with the field and path named."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import affectlens
from affectlens.train.config import TrainConfig, model_file

RECIPES = sorted((Path(affectlens.__file__).parent / "train" / "recipes").glob("*.json"))


def test_there_are_recipes():
    assert {p.name for p in RECIPES} >= {"robust-lite0.json", "distil-lite0.json"}


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_loads_and_its_packaged_onnx_files_resolve_from_any_folder(recipe, tmp_path, monkeypatch):
    cfg = TrainConfig.load(recipe)
    monkeypatch.chdir(tmp_path)  # not the repository root
    for field, path in [("init_onnx", cfg.init_onnx)] + [("teacher_onnx", t) for t in cfg.teacher_onnx]:
        if not path:
            continue
        if path.startswith("src/affectlens/"):
            found = model_file(path, field)
            assert found.is_file() and found.name == Path(path).name and found.is_absolute()
        else:  # a run's own output (e.g. a teacher taken from git history first): named when missing
            with pytest.raises(FileNotFoundError, match=re.escape(f"{field}: {path}: no such file")):
                model_file(path, field)


def test_a_missing_teacher_fails_before_training_starts(tmp_path):
    pytest.importorskip("torch", reason="training needs the [train] extra (torch)")
    from affectlens.train.loop import train

    cfg = TrainConfig(teacher_onnx=("nowhere/teacher.onnx",), distill_weight=0.5, epochs=1, limit_train=8)
    with pytest.raises(FileNotFoundError, match=re.escape("teacher_onnx: nowhere/teacher.onnx: no such file")):
        train(cfg, tmp_path / "no-data-needed", tmp_path / "run")
    assert not (tmp_path / "run").exists()
    # a teacher with distill_weight 0 is not used, so not looked for: the run gets as far as its data
    unused = TrainConfig(teacher_onnx=("nowhere/teacher.onnx",), distill_weight=0.0, epochs=1, limit_train=8)
    with pytest.raises(Exception) as failed:
        train(unused, tmp_path / "no-data-needed", tmp_path / "run2")
    assert "teacher_onnx" not in str(failed.value) and "no-data-needed" in str(failed.value), failed.value
