"""``affectlens calibrate --write`` stores user overrides that the registry reads, and never
changes a file of the installed package."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import affectlens
from affectlens import registry

PACKAGE = Path(affectlens.__file__).resolve().parent
MODEL = "ferplus-lite0"


def _package_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in PACKAGE.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
        h.update(str(path.relative_to(PACKAGE)).encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
@pytest.mark.parametrize("where", ["user folder", "named file"])
def test_calibrate_write_goes_to_the_user_and_the_registry_reads_it_back(where, tmp_path, data_root, monkeypatch):
    home, named = tmp_path / "home", tmp_path / "cal" / "mine.json"
    before = _package_digest()
    cmd = [sys.executable, "-m", "affectlens.cli", "calibrate", "--model", MODEL, "--limit", "20"]
    cmd += ["--write-to", str(named)] if where == "named file" else ["--write"]
    env = {**os.environ, "AFFECTLENS_HOME": str(home), "AFFECTLENS_DATA": str(data_root)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    fitted = json.loads(done.stdout)["thresholds"]
    assert _package_digest() == before  # no file of the package changed

    expected = named if where == "named file" else home / "models" / f"{MODEL}.json"
    assert [str(p) for p in tmp_path.rglob("*.json")] == [str(expected)]
    assert f"wrote {expected}" in done.stderr
    monkeypatch.setenv("AFFECTLENS_HOME", str(home))
    monkeypatch.setattr(registry, "_OVERRIDE_FILES", {})
    if where == "named file":
        assert registry.override_source(MODEL) is None  # not in the user folder: read only when named
        registry.load_overrides(named)
    assert registry.override_source(MODEL) == expected
    cfg = registry.get_model_cfg(MODEL)
    assert cfg.thresholds == fitted and "20 faces" in cfg.thresholds["fitted_on"]
    registry.clear_cache()
    assert registry.create(MODEL).cfg.thresholds == fitted
    registry.clear_cache()
