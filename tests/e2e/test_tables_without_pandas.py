"""The CLI's default paths run without pandas (its import is a quarter of a second of start-up):
CSV tables (:class:`affectlens.export.table.Table`) must be byte for byte what pandas' ``to_csv``
of the same table gives (the format every earlier release wrote), and the tables printed on
stdout what pandas' ``to_string`` gives, for every table kind, on real media and hostile text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from affectlens.cli import main
from affectlens.export.records import _TO_TABLE
from affectlens.export.table import Table, spreadsheet_safe
from affectlens.export.writers import table_paths

GRID = "talking_grid_s_swwp2s.mpg"  # 3 s, one talking face and speech: faces, segments and tracks
TEXTS = [
    '=HYPERLINK("http://x","y")',
    "+1 what a bad day",
    "-so so-",
    "@home, happy",
    'quote "me"\nnext line',
    "ünïcödé 😀",
]


def pandas_csv(table: Table, path: Path) -> bytes:
    """The reference: the table as a pandas DataFrame, made spreadsheet-safe, ``to_csv``."""
    spreadsheet_safe(table.to_frame()).to_csv(path, index=False)
    return path.read_bytes()


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def written_tables(tmp_path: Path, command: list[str], inputs: list[str], primary: str) -> dict[str, tuple[Path, Path]]:
    """Runs one CLI command twice, ``--out x.csv`` and ``--out x.jsonl``: each table kind's
    (CSV file, JSONL file)."""
    for suffix in ("csv", "jsonl"):
        assert main([*command, "--out", str(tmp_path / f"x.{suffix}"), "-q", "--", *inputs]) == 0
    csvs, jsonls = table_paths(tmp_path / "x.csv", primary), table_paths(tmp_path / "x.jsonl", primary)
    return {k: (csvs[k], jsonls[k]) for k in csvs if csvs[k].exists()}


@pytest.mark.slow
def test_analyze_csv_equals_pandas(photos, videos, tmp_path):
    inputs = [str(photos / "grace_hopper.jpg"), str(photos / "solvay_conference_1927.jpg"), str(videos / GRID)]
    tables = written_tables(tmp_path, ["analyze", "--mesh", "on"], inputs, "faces")
    assert set(tables) == {"faces", "segments", "tracks"}
    for kind, (csv_path, jsonl_path) in tables.items():
        records = read_jsonl(jsonl_path)
        assert records, kind
        table = _TO_TABLE[kind](records)
        assert csv_path.read_bytes() == pandas_csv(table, tmp_path / f"ref-{kind}.csv"), kind
    faces = tables["faces"][0].read_text(encoding="utf-8").splitlines()
    assert len(faces) > 1 + 25 + 60  # header, the Solvay faces, the clip's frames


def test_text_csv_equals_pandas_with_formulas(tmp_path):
    tables = written_tables(tmp_path, ["text"], TEXTS, "text")
    csv_path, jsonl_path = tables["text"]
    table = _TO_TABLE["text"](read_jsonl(jsonl_path))
    assert csv_path.read_bytes() == pandas_csv(table, tmp_path / "ref.csv")
    assert "'=HYPERLINK" in csv_path.read_text(encoding="utf-8")


def test_cells_equal_pandas_for_edge_values(tmp_path):
    """Missing values, NaN, infinities, large and tiny floats, integers held as floats, numpy
    scalars, a lone column of empty cells (csv quotes a row's only empty field)."""
    import numpy as np

    rows = [
        {"f": 1e-5, "i": 3, "b": True, "t": "-1", "e": None},
        {"f": float("nan"), "i": None, "b": None, "t": None, "e": None},
        {"f": 1e16, "i": np.int64(7), "b": np.bool_(False), "t": "a,b", "e": None},
        {"f": np.float32(0.1), "i": 2.0, "b": False, "t": "\t tab", "e": None},
        {"f": float("-inf"), "i": -1, "t": 'say "hi"', "e": None},
        {"f": 120, "i": 0, "b": True, "t": "", "e": None},
        {"f": np.float32("nan"), "i": 1, "b": True, "t": "x", "e": None},
        {"f": 0.5, "i": np.float32("nan"), "b": np.float64("nan"), "t": np.float32("nan"), "e": None},
    ]
    table = Table(["f", "i", "b", "t", "e"], rows, {"f": "float64", "i": "Int64", "b": "boolean"})
    table.write_csv(tmp_path / "a.csv")
    assert (tmp_path / "a.csv").read_bytes() == pandas_csv(table, tmp_path / "ref.csv")
    lone = Table(["e"], [{"e": None}, {"e": "x"}], {})
    lone.write_csv(tmp_path / "b.csv")
    assert (tmp_path / "b.csv").read_bytes() == pandas_csv(lone, tmp_path / "ref-b.csv")


@pytest.mark.slow
def test_printed_tables_equal_pandas(photos, videos, monkeypatch, capsys):
    """Every stdout table (photo faces, speech segments, track summaries, texts) of a real run."""
    import pandas as pd

    import affectlens.export.printing as printing

    seen: list[list[dict]] = []
    real = printing._write
    monkeypatch.setattr(printing, "_write", lambda rows: (seen.append(rows), real(rows)))
    inputs = [str(photos / "grace_hopper.jpg"), str(photos / "solvay_conference_1927.jpg"), str(videos / GRID)]
    assert main(["analyze", "--mesh", "on", "--", *inputs]) == 0
    assert main(["text", "--", *TEXTS]) == 0
    out = capsys.readouterr().out
    tables = [rows for rows in seen if rows]
    assert len(tables) == 4  # faces, segments and tracks of analyze; texts
    for rows in tables:
        text = printing.format_table(rows)
        ref = pd.DataFrame([{k: printing.safe(v) for k, v in r.items()} for r in rows]).to_string(index=False)
        assert text == ref
        assert text in out


@pytest.mark.parametrize("args", [["analyze", "PHOTO"], ["analyze", "VIDEO", "--mesh", "on", "--out", "OUT.csv", "-q"]])
def test_cli_does_not_import_pandas(photos, videos, tmp_path, args):
    """``affectlens analyze photo.jpg`` (a printed table) and a video to CSV never load pandas."""
    names = {"PHOTO": str(photos / "grace_hopper.jpg"), "VIDEO": str(videos / GRID), "OUT.csv": str(tmp_path / "o.csv")}
    argv = [names.get(a, a) for a in args]
    code = f"import sys; from affectlens.cli import main; rc = main({argv!r}); print('pandas' in sys.modules, rc)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.stdout.splitlines()[-1] == "False 0", done.stdout + done.stderr
