"""The photo pipeline end to end, through the Python API and the CLI, on real photos."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import affectlens
from affectlens.cli import main
from affectlens.labels import CANONICAL

GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "solvay_faces.json").read_text())


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "affectlens.cli", *args], capture_output=True, text=True, timeout=300)


# -- Python API ------------------------------------------------------------------------------
def test_astronaut_is_happy(photos):
    r = affectlens.analyze(photos / "astronaut.png")
    assert len(r.faces) == 1
    assert r.faces[0].expression.top == "happiness"
    assert sum(r.faces[0].expression.probs) == pytest.approx(1.0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.source = "x"


def test_group_photo_finds_the_faces(photos):
    r = affectlens.analyze(photos / "solvay_conference_1927.jpg")
    found = [(f.face.box[0] + f.face.box[2] / 2, f.face.box[1] + f.face.box[3] / 2) for f in r.faces]
    hits = 0
    for g in GOLDEN["faces"]:
        d = min(np.hypot(x - g["center"][0], y - g["center"][1]) for x, y in found)
        hits += d < 0.3 * g["size"]
    assert hits >= 27, f"only {hits} of 29 faces found"
    # every box is on a face: near a golden face and holding its own landmarks
    for f in r.faces:
        cx, cy = f.face.box[0] + f.face.box[2] / 2, f.face.box[1] + f.face.box[3] / 2
        assert min(np.hypot(cx - g["center"][0], cy - g["center"][1]) for g in GOLDEN["faces"]) < 40
        x, y, w, h = f.face.box
        assert all(x <= px <= x + w and y <= py <= y + h for px, py in f.face.landmarks)


def test_array_and_pil_inputs_agree(photos):
    img = Image.open(photos / "grace_hopper.jpg")
    a = affectlens.analyze(np.asarray(img.convert("RGB")))
    b = affectlens.analyze(img)
    assert len(a.faces) == len(b.faces) == 1
    np.testing.assert_allclose(a.faces[0].expression.probs, b.faces[0].expression.probs, atol=1e-6)
    assert a.source == "<array>"


def test_no_face_gives_empty_tuple_and_a_row(photos):
    sky = np.asarray(Image.open(photos / "solvay_conference_1927.jpg").convert("RGB"))[:500, :800]
    r = affectlens.analyze(sky)
    assert r.faces == ()
    df = affectlens.to_dataframe([r, affectlens.analyze(photos / "astronaut.png")])
    assert len(df) == 2
    assert pd.isna(df.loc[0, "face"]) and pd.isna(df.loc[0, "expression"])
    assert df.loc[1, "expression"] == "happiness"
    assert [f"prob_{c}" for c in CANONICAL] == [c for c in df.columns if c.startswith("prob_") and "_raw_" not in c]


def test_min_face_skips_and_counts(photos):
    r = affectlens.analyze(photos / "solvay_conference_1927.jpg", min_face=100)
    assert r.skipped_small >= 20 and all(f.face.size >= 100 for f in r.faces)


def test_face_crop_mode_on_real_fer_rows(fer_faces):
    r = affectlens.analyze(fer_faces[0], crop_mode="face")
    assert len(r.faces) == 1 and r.faces[0].face.box == (0.0, 0.0, 48.0, 48.0)


def test_second_model_has_seven_labels(photos):
    r = affectlens.analyze(photos / "astronaut.png", model="fer2013-lite0")
    assert len(r.faces[0].expression.labels) == 7 and r.faces[0].expression.top == "happiness"


def test_invalid_options_list_valid_values():
    with pytest.raises(ValueError, match="valid: detect, face"):
        affectlens.Options().replace(crop_mode="crop")


# -- CLI ---------------------------------------------------------------------------------------
def test_cli_json_records(photos):
    p = run_cli("analyze", str(photos / "solvay_conference_1927.jpg"), "--json")
    assert p.returncode == 0, p.stderr
    recs = [json.loads(line) for line in p.stdout.splitlines()]
    assert len(recs) >= 27
    for i, rec in enumerate(recs):
        assert set(rec) >= {
            "source",
            "face",
            "box",
            "score",
            "landmarks",
            "expression",
            "probs",
            "valence",
            "arousal",
            "confidence",
            "uncertain",
            "uncertain_reason",
            "compound",
        }
        assert rec["face"] == i and len(rec["box"]) == 4 and len(rec["landmarks"]) == 5
        assert rec["expression"] == max(rec["probs"], key=rec["probs"].get)
        assert sum(rec["probs"].values()) == pytest.approx(1.0, abs=1e-4)


def test_cli_bad_inputs_do_not_lose_good_results(photos, tmp_path):
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "readme.jpg"
    text.write_text("hello")
    data = (photos / "grace_hopper.jpg").read_bytes()
    trunc = tmp_path / "trunc.jpg"
    trunc.write_bytes(data[: len(data) // 3])
    bomb = tmp_path / "bomb.png"
    Image.new("1", (12000, 12000)).save(bomb)
    out = tmp_path / "out.csv"
    args = [
        str(photos / "astronaut.png"),
        str(tmp_path / "missing.png"),
        str(empty),
        str(text),
        str(trunc),
        str(bomb),
        str(photos / "newton.png"),
        "--out",
        str(out),
        "-q",
    ]
    p = run_cli("analyze", *args)
    assert p.returncode == 1
    errors = [line for line in p.stderr.splitlines() if "error:" in line]
    assert len(errors) == 5, p.stderr
    for bad, reason in (
        (tmp_path / "missing.png", "no such file"),
        (empty, "empty file"),
        (text, "not a readable image"),
        (trunc, "truncated"),
        (bomb, "decompression bomb"),
    ):
        assert any(str(bad) in e and reason in e for e in errors), (bad, errors)
    df = pd.read_csv(out)
    assert list(df["source"]) == [str(photos / "astronaut.png"), str(photos / "newton.png")]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl", ".parquet"])
def test_cli_table_formats(photos, tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow", reason="Parquet needs the [parquet] extra (pyarrow)")
    out = tmp_path / f"faces{suffix}"
    assert (
        main(["analyze", str(photos / "astronaut.png"), str(photos / "grace_hopper.jpg"), "--out", str(out), "-q"]) == 0
    )
    if suffix == ".jsonl":
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        assert [r["expression"] for r in rows][0] == "happiness"
    else:
        df = pd.read_csv(out) if suffix == ".csv" else pd.read_parquet(out)
        assert len(df) == 2 and df.loc[0, "expression"] == "happiness"
        assert df.filter(like="prob_").sum(axis=1).round(4).eq(1.0).all()


def test_cli_no_face_row_keeps_table_shape(photos, tmp_path):
    sky = tmp_path / "sky.png"
    Image.open(photos / "solvay_conference_1927.jpg").crop((0, 0, 800, 500)).save(sky)
    p = run_cli("analyze", str(sky), "--json")
    assert p.returncode == 0
    rec = json.loads(p.stdout)
    assert rec["face"] is None and rec["expression"] is None and rec["probs"] == {}


def test_cli_annotate_writes_images(photos, tmp_path):
    out = tmp_path / "ann"
    assert main(["analyze", str(photos), "--annotate", str(out), "-q"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["astronaut.png", "gauss.png", "grace_hopper.png", "newton.png", "solvay_conference_1927.png"]
    src = np.asarray(Image.open(photos / "astronaut.png").convert("RGB"))
    ann = np.asarray(Image.open(out / "astronaut.png").convert("RGB"))
    assert ann.shape == src.shape and (ann != src).any()


def test_cli_table_default_and_models(photos, capsys):
    assert main(["analyze", str(photos / "astronaut.png")]) == 0
    out = capsys.readouterr().out
    assert "happiness" in out and "astronaut.png" in out
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "ferplus-lite0 *" in out and "fer2013-lite0" in out and "* default model" in out
    assert max(len(line) for line in out.splitlines()) <= 100


def test_cli_unknown_model_is_one_line_error(photos):
    p = run_cli("analyze", str(photos / "astronaut.png"), "--model", "nope")
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "unknown model 'nope'" in p.stderr


def test_demo_runs_on_bundled_photo():
    """The plain install's demo has the face mesh (packaged): pose, AUs and a rationale, no notice."""
    p = run_cli("demo", "--json")
    assert p.returncode == 0, p.stderr
    rec = json.loads(p.stdout)
    assert rec["expression"] == "happiness"
    assert all(abs(rec[k]) < 10 for k in ("pose_yaw", "pose_pitch", "pose_roll"))  # a frontal portrait
    assert rec["au12"] > 0.5 and rec["rationale"].endswith("-> happiness")
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and "analysing the bundled demo photo" in lines[0], p.stderr
