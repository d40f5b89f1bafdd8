"""Benchmarks write benchmarks/results/*.json only when asked (--write), so running one never
dirties the tree."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
WRITERS = sorted(p for p in BENCHMARKS.glob("*.py") if '"results"' in p.read_text())


def _argparse_flags(script: Path) -> set[str]:
    tree = ast.parse(script.read_text())
    return {
        a.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and getattr(n.func, "attr", "") == "add_argument"
        for a in n.args
        if isinstance(a, ast.Constant) and isinstance(a.value, str)
    }


def test_every_results_writer_is_found():
    assert len(WRITERS) >= 9, [p.name for p in WRITERS]


@pytest.mark.parametrize("script", WRITERS, ids=lambda p: p.name)
def test_results_writers_have_a_write_flag(script):
    assert "--write" in _argparse_flags(script)


@pytest.mark.slow
def test_speed_benchmark_without_write_leaves_results_alone(photos, tmp_path):
    one = tmp_path / "photos"
    one.mkdir()
    (one / "astronaut.png").symlink_to(photos / "astronaut.png")
    result = BENCHMARKS / "results" / "speed.json"
    before = result.read_bytes()
    out = subprocess.run(
        [sys.executable, str(BENCHMARKS / "speed.py"), "--repeats", "1", "--photos", str(one)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert "astronaut.png" in out.stdout and "wrote" not in out.stdout
    assert result.read_bytes() == before
