"""The job layer: ``affectlens.run`` is what every CLI command runs.

Each CLI command's output must be what ``run()`` + a writer give in Python, on real media.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import affectlens
from affectlens.cli import main
from affectlens.export import records_of
from affectlens.jobs import Texts, plan, probe
from affectlens.options import Options
from affectlens.types import FrameResult, ImageResult, InputFailure, SegmentResult, TextItemResult

ROOT = Path(__file__).resolve().parents[2]
SMILE = "smile_pyfeat_single_face.mp4"
GRID = "talking_grid_s_swwp2s.mpg"


def python_records(inputs, options=None) -> list[dict]:
    """The JSON records ``run()`` gives, through the same record writer the CLI uses."""
    out = []
    for r in affectlens.run(inputs, options):
        if not isinstance(r, InputFailure):
            out += records_of(r)[1]
    return out


def cli_records(capsys, *args) -> list[dict]:
    capsys.readouterr()
    assert main(["analyze", *args, "--json"]) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def same(a, b) -> bool:
    """Value for value, floats within 1e-9 (both sides are rounded by the same record code)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, (int, float)):
        return math.isclose(a, b, rel_tol=0, abs_tol=1e-9) or (math.isnan(a) and math.isnan(b))
    return a == b


def test_cli_equals_run_on_photos(photos, capsys):
    inputs = [str(photos / "grace_hopper.jpg"), str(photos / "solvay_conference_1927.jpg")]
    cli = cli_records(capsys, *inputs)
    assert same(cli, python_records(inputs))
    assert sum(1 for r in cli if r["source"].endswith("solvay_conference_1927.jpg")) >= 25


def test_cli_equals_run_on_a_video_with_sound(videos, capsys):
    path = str(videos / GRID)
    cli = cli_records(capsys, path, "--fps", "5")
    py = python_records([path], Options().replace(fps=5))
    assert same(cli, py)
    assert any("frame" in r for r in cli) and any("status" in r for r in cli)  # frames and segments


def test_cli_equals_run_on_audio_and_transcript(data_root, tmp_path, capsys):
    clip = str(data_root / "ravdess" / "Actor_01" / "03-01-05-01-01-01-01.flac")
    srt = tmp_path / "t.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:03,000\nKids are talking by the door.\n\n", encoding="utf-8")
    cli = cli_records(capsys, clip, "--transcript", str(srt))
    assert same(cli, python_records([clip], Options().replace(transcript=str(srt))))
    assert cli and all(r["modalities"] == ["voice", "text"] for r in cli)
    capsys.readouterr()
    assert main(["text", "--transcript", str(srt), "--json"]) == 0
    text_cli = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    from affectlens.jobs.run import Typed

    assert same(text_cli, python_records([Typed(str(srt), "transcript")]))


def test_a_broken_input_among_good_ones_is_one_error_record(photos, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes((photos / "grace_hopper.jpg").read_bytes()[:300])
    results = list(affectlens.run([photos / "astronaut.png", broken, tmp_path / "missing.png", photos / "gauss.png"]))
    errors = [r for r in results if isinstance(r, InputFailure)]
    images = [r for r in results if isinstance(r, ImageResult)]
    assert [Path(r.source).name for r in images] == ["astronaut.png", "gauss.png"]
    assert len(errors) == 2 and all("\n" not in e.reason for e in errors)
    assert str(broken) in errors[0].reason and "missing.png: no such file" in errors[1].reason


def test_results_stream_and_stopping_keeps_what_was_yielded(videos):
    it = affectlens.run(videos / SMILE, Options().replace(modalities="face"))
    first = [next(it) for _ in range(5)]
    it.close()  # the caller stops: the decoder thread ends, the five results stay intact
    assert all(isinstance(r, FrameResult) for r in first)
    assert [r.frame for r in first] == sorted(r.frame for r in first)


def test_probe_says_once_what_an_input_is(photos, videos, data_root, tmp_path):
    assert probe(photos / "newton.png").kind == "image"
    grid = probe(videos / GRID)
    assert grid.kind == "av" and grid.has_audio and grid.width > 0 and grid.duration_ms > 0
    assert probe(data_root / "ravdess" / "Actor_01" / "03-01-05-01-01-01-01.flac").kind == "audio"
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(affectlens.InputError, match="empty file"):
        probe(empty)
    # the modality rule, once: asking only for what an input lacks is an error naming it
    with pytest.raises(affectlens.InputError, match="a photo has no voice modality"):
        plan(probe(photos / "newton.png"), ("voice",), False)
    assert plan(grid, None, False) == ("face", "voice")
    assert plan(grid, None, True) == ("face", "voice", "text")


def test_a_saved_config_reproduces_the_run(videos, tmp_path, capsys):
    path = str(videos / SMILE)
    cfg = tmp_path / "run.toml"
    args = ["--fps", "4", "--smooth", "oneeuro", "--threshold", "0.6", "--max-centre-dist", "1.5"]
    first = cli_records(capsys, path, *args, "--save-config", str(cfg))
    again = cli_records(capsys, path, "--config", str(cfg))
    assert first and same(first, again)
    loaded = Options.load(cfg)
    assert loaded.video.sampling.fps == 4 and loaded.video.smoothing.method == "oneeuro"
    assert loaded.video.tracking.max_centre_dist == 1.5 and loaded.detection.threshold == 0.6
    # a flag on top of the file wins
    assert cli_records(capsys, path, "--config", str(cfg), "--fps", "2") != first


def test_options_round_trip_and_errors_list_the_valid_names():
    o = Options().replace(fps=5, vad_threshold=0.6, modalities="face,voice", text_model="text-tfidf")
    assert Options.from_dict(o.to_dict()) == o
    with pytest.raises(ValueError, match="unknown option.*video.sampling.fsp.*valid: video.sampling.end"):
        Options.from_dict({"video": {"sampling": {"fsp": 1}}})
    with pytest.raises(ValueError, match="unknown modality smell; valid: face, voice, text"):
        Options().replace(modalities="face,smell")


def test_texts_and_a_text_file_through_run(tmp_path):
    f = tmp_path / "lines.txt"
    f.write_bytes(b"I am so happy\rtoday\nThis is disgusting\n")
    from affectlens.jobs.run import Typed

    results = list(affectlens.run([Texts(("I am so happy", "  ")), Typed(str(f), "text")]))
    assert all(isinstance(r, TextItemResult) for r in results)
    assert [r.result.status for r in results] == ["ok", "empty", "ok", "ok"]
    assert results[2].result.text == "I am so happy\rtoday"  # only a line feed ends a line


def test_readme_python_examples_run_as_written(photos, videos, tmp_path, monkeypatch):
    """Every ```python block of the README runs, in a folder holding the files it names."""
    import re

    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert blocks
    shutil.copy(photos / "solvay_conference_1927.jpg", tmp_path / "group.jpg")
    shutil.copy(photos / "grace_hopper.jpg", tmp_path / "photo.jpg")
    shutil.copy(videos / GRID, tmp_path / "talk.mp4")
    (tmp_path / "interview.srt").write_text(
        "1\n00:00:00,000 --> 00:00:02,000\nI am so glad to see you.\n\n", encoding="utf-8"
    )
    batch = subprocess.run(
        [
            sys.executable,
            "-m",
            "affectlens.cli",
            "batch",
            "photo.jpg",
            "talk.mp4",
            "--out",
            "results",
            "--workers",
            "1",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert batch.returncode == 0, batch.stderr[-2000:]  # the Batch section reads its results back
    code = "\n\n".join(blocks)
    p = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-2000:]


def test_interrupt_writes_what_was_analysed(videos, tmp_path):
    """SIGTERM mid-video: the frames analysed so far are written, no traceback."""
    import signal

    out = tmp_path / "part.csv"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "affectlens.cli",
            "analyze",
            str(videos / GRID),
            "--out",
            str(out),
            "--json",
            "--modalities",
            "face",
            "--workers",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().startswith("{")  # the first frame is analysed: now stop it
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert "Traceback" not in err
    if proc.returncode == 1:  # stopped mid-run (a fast machine may finish first: then exit 0)
        assert "interrupted: writing the" in err
    import pandas as pd

    assert len(pd.read_csv(out)) > 0


def test_segment_results_have_fixed_table_names(videos, tmp_path):
    out = tmp_path / "x.csv"
    assert main(["analyze", str(videos / SMILE), "--out", str(out), "-q", "--fps", "5"]) == 0
    assert out.exists() and (tmp_path / "x-segments.csv").exists() and (tmp_path / "x-tracks.csv").exists()
    import pandas as pd

    faces = pd.read_csv(out)
    assert list(faces.columns[:5]) == ["source", "frame", "time_ms", "track", "face"]
    assert set(np.unique(faces["track"].dropna())) == {0}
    assert all(isinstance(r, SegmentResult) for r in affectlens.analyze_av(videos / SMILE, fps=5))


def test_a_folder_of_photos_on_two_threads_gives_the_sequential_results_in_order(photos, tmp_path):
    """The photo pool: same records as one thread, in input order, a broken photo in the middle
    is its own error record and the photos after it are still analysed."""
    from affectlens.jobs.run import Runner

    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("astronaut.png", "grace_hopper.jpg", "newton.png", "gauss.png"):
        shutil.copy(photos / name, folder / name)
    (folder / "c_broken.jpg").write_bytes((photos / "grace_hopper.jpg").read_bytes()[:300])
    seen = []
    pooled = list(Runner(photo_workers=2).run(folder, progress=seen.append))
    single = list(Runner(photo_workers=1).run(folder))
    names = [Path(r.source).name for r in pooled]
    assert names == sorted(p.name for p in folder.iterdir())
    assert [type(r) for r in pooled] == [type(r) for r in single]
    failures = [r for r in pooled if isinstance(r, InputFailure)]
    assert len(failures) == 1 and "c_broken.jpg" in failures[0].reason
    for a, b in zip(pooled, single):
        if isinstance(a, ImageResult):
            assert same(records_of(a)[1], records_of(b)[1])
    assert [p.done for p in seen if p.unit == "image"][-1] == 5 and seen[-1].finished
