"""Output, interrupt and terminal defects of the fuzz run (issue 18, items 4, 6, 7, 8, 9, 12):
each input is crafted here from the shared media; a bad output or input gives one line naming
it and the reason, no traceback, and everything else is still written."""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from affectlens.cli import main

SMILE = "smile_pyfeat_single_face.mp4"


def cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "affectlens.cli", *args], capture_output=True, text=True, timeout=timeout
    )


def one_error_line(p: subprocess.CompletedProcess, *needles: str) -> None:
    assert "Traceback" not in p.stderr, p.stderr
    errors = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and all(n in errors[0] for n in needles), p.stderr


# -- item 4: outputs never replace inputs ------------------------------------------------------------
def test_annotate_into_the_input_folder_is_refused_and_inputs_are_untouched(photos, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    shutil.copy(photos / "grace_hopper.jpg", folder / "a.jpg")
    shutil.copy(photos / "newton.png", folder / "a.png")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    p = cli("analyze", str(folder), "--annotate", str(folder), "-q")
    assert p.returncode == 2
    one_error_line(p, f"--annotate {folder}", "inputs")
    assert {q.name: q.read_bytes() for q in folder.iterdir()} == before
    # a file given directly inside the annotate folder is protected too
    p = cli("analyze", str(folder / "a.png"), "--annotate", str(tmp_path), "-q")
    assert p.returncode == 2 and "holds or is among the inputs" in p.stderr


def test_out_equal_to_an_input_is_refused(data_root, tmp_path):
    f = tmp_path / "lines.csv"
    f.write_text("I am so happy\n", encoding="utf-8")
    p = cli("text", "--file", str(f), "--out", str(f))
    assert p.returncode == 2 and f.read_text(encoding="utf-8") == "I am so happy\n"
    one_error_line(p, f"--out {f}", "is one of the inputs")


# -- item 8: output errors ---------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["folder", "under_a_file", "annotate_existing_file", "annotate_picture_name"])
def test_unwritable_outputs_fail_before_any_analysis(photos, tmp_path, case):
    photo = str(photos / "newton.png")
    (tmp_path / "file.txt").write_text("x")
    args = {
        "folder": ["--out", str(tmp_path)],
        "under_a_file": ["--out", str(tmp_path / "file.txt" / "x.csv")],
        "annotate_existing_file": ["--annotate", str(tmp_path / "file.txt")],
        "annotate_picture_name": ["--annotate", str(tmp_path / "x.png")],
    }[case]
    t = time.perf_counter()
    p = cli("analyze", photo, *args, "-q")
    assert p.returncode == 2
    one_error_line(p, args[0])
    assert time.perf_counter() - t < 60  # refused up front (no model loaded for nothing)
    assert not (tmp_path / "x.png").exists()


def test_a_full_disk_loses_only_that_output(photos, videos, tmp_path, monkeypatch, capsys):
    from affectlens.export import table

    real = table.atomic_write

    def full(path, write):
        if Path(path).suffix == ".csv":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(path, write)

    monkeypatch.setattr(table, "atomic_write", full)
    code = main(
        [
            "analyze",
            str(videos / SMILE),
            "--end",
            "0.5",
            "--out",
            str(tmp_path / "x.csv"),
            "--summary",
            str(tmp_path / "s.json"),
            "-q",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and "No space left on device" in err and "Traceback" not in err
    assert not (tmp_path / "x.csv").exists() and not list(tmp_path.glob(".x.csv*"))  # no truncated file
    assert (tmp_path / "s.json").exists()  # the other output is written


# -- item 7: a video that yields no frames -------------------------------------------------------------
def test_timeline_of_a_video_without_frames_keeps_the_other_results(photos, videos, tmp_path):
    p = cli(
        "analyze",
        str(videos / SMILE),
        str(photos / "newton.png"),
        "--start",
        "600",
        "--modalities",
        "face",
        "--timeline",
        str(tmp_path / "t.png"),
        "--out",
        str(tmp_path / "x.csv"),
        "-q",
    )
    assert p.returncode == 1
    one_error_line(p, SMILE, "no frame at or after the start time")
    rows = pd.read_csv(tmp_path / "x.csv")
    assert rows["source"].str.endswith("newton.png").any()


# -- item 9: undecodable bytes in file names ------------------------------------------------------------
def test_non_utf8_file_names_reach_every_table_format(photos, tmp_path):
    pytest.importorskip("pyarrow")
    folder = tmp_path / "in"
    folder.mkdir()
    name = os.fsdecode(b"caf\xe9.png")  # a Latin-1 name: undecodable as UTF-8
    shutil.copy(photos / "newton.png", folder / name)
    for suffix in (".csv", ".parquet", ".jsonl"):
        out = tmp_path / f"x{suffix}"
        p = cli("analyze", str(folder), "--out", str(out), "-q")
        assert p.returncode == 0, p.stderr
        if suffix == ".parquet":
            source = pd.read_parquet(out)["source"][0]
        elif suffix == ".csv":
            source = pd.read_csv(out)["source"][0]
        else:
            source = json.loads(out.read_text(encoding="utf-8").splitlines()[0])["source"]
        assert source.endswith("caf\\xe9.png")  # the undecodable byte, escaped


# -- item 12: spreadsheet formulas and terminal escapes -------------------------------------------------
def test_formulas_are_neutralised_and_escapes_are_not_printed(tmp_path):
    out = tmp_path / "t.csv"
    p = cli("text", '=HYPERLINK("http://x")', "+1 bad day", "\x1b[31mred alert\x1b[0m", "--out", str(out))
    assert p.returncode == 0, p.stderr
    assert "\x1b" not in p.stdout and "\\x1b" in p.stdout
    cells = pd.read_csv(out)["text"].tolist()
    assert cells[0].startswith("'=") and cells[1].startswith("'+")


# -- item 6: interrupts -------------------------------------------------------------------------------------
def test_sigterm_during_text_scoring_writes_what_was_scored(data_root, tmp_path):
    lines = (data_root / "text" / "dair_emotion" / "train.txt").read_text(encoding="utf-8").splitlines()[1:]
    big = tmp_path / "big.txt"
    big.write_text("\n".join(line.rpartition(";")[0] for line in lines * 4) + "\n", encoding="utf-8")
    out = tmp_path / "part.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "affectlens.cli", "text", "--file", str(big), "--out", str(out), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().startswith("{")  # scoring has begun: now stop it
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    rows = pd.read_csv(out)
    assert len(rows) > 0
    if proc.returncode == 1:  # stopped part-way (a fast machine may have finished: exit 0)
        assert "interrupted: writing the" in err and len(rows) < 64_000


# -- issue 17: duplicate names get a mapping back to their annotated pictures ----------------------------
def test_duplicate_names_map_to_their_annotated_pictures(photos, tmp_path):
    for d, name in (("a", "newton.png"), ("b", "grace_hopper.jpg")):
        (tmp_path / d).mkdir()
        shutil.copy(photos / name, tmp_path / d / "x.png")
    out, ann = tmp_path / "t.csv", tmp_path / "ann"
    p = cli("analyze", str(tmp_path / "a"), str(tmp_path / "b"), "--annotate", str(ann), "--out", str(out), "-q")
    assert p.returncode == 0, p.stderr
    rows = pd.read_csv(out)
    mapping = dict(zip(rows["source"], rows["annotated"]))
    assert mapping == {
        str(tmp_path / "a" / "x.png"): str(ann / "x.png"),
        str(tmp_path / "b" / "x.png"): str(ann / "x-2.png"),
    }
    assert sorted(q.name for q in ann.iterdir()) == ["x-2.png", "x.png"]


# -- found by the fuzz suite's long mode ---------------------------------------------------------------------
def test_a_long_run_of_blanks_in_an_srt_is_parsed_in_bounded_time(tmp_path):
    seed = "1\n00:00:01,000 --> 00:00:03,000\nKids are talking by the door.\n\n"
    bad = tmp_path / "bad.srt"
    bad.write_text("\U0001f3f3\ufe0f\u200d\U0001f308;" + "\x0b" * 1_000_000 + seed, encoding="utf-8")
    spaced = tmp_path / "spaced.srt"
    spaced.write_text("1\n00:00:01,000 --> 00:00:03,000\nKids" + " \x0b\t" * 5000 + " are here.\n\n", encoding="utf-8")
    t = time.perf_counter()
    p = cli("text", "--transcript", str(bad), "--transcript", str(spaced), "--json", timeout=120)
    assert time.perf_counter() - t < 60  # it ran for more than 8 minutes before
    assert p.returncode == 1
    one_error_line(p, str(bad), "malformed srt")
    [rec] = [json.loads(line) for line in p.stdout.splitlines()]
    assert rec["text"] == "Kids are here." and rec["status"] == "ok"


def test_a_long_run_of_line_breaks_in_an_srt_is_parsed_in_bounded_time(tmp_path):
    block = "1\n00:00:01,000 --> 00:00:03,000\nKids are talking by the door.\n"
    bad = tmp_path / "bad.srt"  # what the fuzz run found: a million carriage returns after a broken time
    bad.write_bytes(b" is awful.\n\n3\n00:00:02,5;\x1b=1+2\r.*O" + b"\r" * 1_000_000)
    gaps = tmp_path / "gaps.srt"  # valid, with long runs of blank and blank-looking lines between blocks
    gaps.write_text(block + "\r\n" * 50_000 + " \n" * 50_000 + block.replace("1\n", "2\n", 1), encoding="utf-8")
    t = time.perf_counter()
    p = cli("text", "--transcript", str(bad), "--transcript", str(gaps), "--json", timeout=120)
    assert time.perf_counter() - t < 60  # it ran for more than 40 minutes before
    assert p.returncode == 1
    one_error_line(p, str(bad), "malformed srt")
    recs = [json.loads(line) for line in p.stdout.splitlines()]
    assert [r["text"] for r in recs] == ["Kids are talking by the door."] * 2


def test_file_dash_reads_stdin():
    p = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "text", "--file", "-", "--json"],
        input="I am so happy\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert p.returncode == 0, p.stderr
    [rec] = [json.loads(line) for line in p.stdout.splitlines()]
    assert rec["source"] == "<stdin>"
    assert rec["emotion"] == "happiness"
