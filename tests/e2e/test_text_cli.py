"""`affectlens text` end to end: texts, a file of real dataset lines, transcripts, outputs, bad inputs."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from affectlens.cli import main
from affectlens.labels import CANONICAL

SRT = """1
00:00:01,000 --> 00:00:03,000
Oh my God, I can't believe it! We won!

2
00:00:03,500 --> 00:00:05,000
I hate you. Get out of my house.

3
00:00:05,500 --> 00:00:07,000
Je suis très triste aujourd'hui, vraiment.
"""


def _json_lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def test_texts_as_arguments(capsys):
    assert main(["text", "--json", "I am so happy today!", "   ", "I hate you, get lost"]) == 0
    recs = _json_lines(capsys.readouterr().out)
    assert [r["status"] for r in recs] == ["ok", "empty", "ok"]
    assert recs[0]["emotion"] == "happiness" and recs[2]["emotion"] == "anger"
    assert recs[1]["emotion"] is None and recs[1]["probs"] == {}
    assert set(recs[0]["probs"]) == set(CANONICAL) and abs(sum(recs[0]["probs"].values()) - 1) < 1e-4


def test_file_of_real_tweets_to_csv(tmp_path, data_root, capsys):
    lines = (data_root / "text" / "dair_emotion" / "test.txt").read_text(encoding="utf-8").splitlines()[1:21]
    src = tmp_path / "tweets.txt"
    src.write_text("\n".join(line.rpartition(";")[0] for line in lines) + "\n", encoding="utf-8")
    out = tmp_path / "tweets.csv"
    assert main(["text", "--file", str(src), "--out", str(out)]) == 0
    table = pd.read_csv(out)
    assert len(table) == 20 and (table["status"] == "ok").all() and (table["source"] == str(src)).all()
    assert list(table.columns[:9]) == [
        "source",
        "index",
        "start_ms",
        "end_ms",
        "speaker",
        "text",
        "status",
        "language",
        "emotion",
    ]
    probs = table[[f"prob_{c}" for c in CANONICAL]].to_numpy()
    assert abs(probs.sum(axis=1) - 1).max() < 1e-4
    assert "emotion" in capsys.readouterr().out  # the table on stdout


def test_transcript_with_times_and_bad_input(tmp_path, capsys):
    good = tmp_path / "talk.srt"
    good.write_text(SRT, encoding="utf-8")
    empty = tmp_path / "empty.vtt"
    empty.write_text("", encoding="utf-8")
    out = tmp_path / "talk.jsonl"
    code = main(["text", "--transcript", str(empty), "--transcript", str(good), "--out", str(out), "-q"])
    captured = capsys.readouterr()
    assert code == 1  # the empty transcript failed ...
    assert f"error: {empty}: empty file (0 bytes)" in captured.err
    recs = [json.loads(line) for line in out.read_text().splitlines()]  # ... the good one is still scored
    assert [(r["start_ms"], r["end_ms"]) for r in recs] == [(1000, 3000), (3500, 5000), (5500, 7000)]
    assert [r["status"] for r in recs] == ["ok", "ok", "unsupported language"]
    assert recs[1]["emotion"] == "anger" and recs[2]["language"] == "fr" and recs[2]["emotion"] is None


def test_transcript_to_parquet(tmp_path):
    pytest.importorskip("pyarrow", reason="Parquet needs the [parquet] extra (pyarrow)")
    src = tmp_path / "t.json"
    src.write_text(json.dumps({"segments": [{"start": 0.5, "end": 2.0, "text": "This is disgusting, gross."}]}))
    out = tmp_path / "t.parquet"
    assert main(["text", "--transcript", str(src), "--out", str(out), "-q"]) == 0
    row = pd.read_parquet(out).iloc[0]
    assert row["start_ms"] == 500 and row["end_ms"] == 2000 and row["emotion"] == "disgust"


def test_usage_errors(tmp_path, capsys):
    assert main(["text"]) == 2
    assert "nothing to score" in capsys.readouterr().err
    assert main(["text", "hi", "--out", str(tmp_path / "x.txt")]) == 2
    assert "unsupported format" in capsys.readouterr().err
    assert main(["text", "--file", str(tmp_path / "missing.txt")]) == 1
    assert "missing.txt: no such file" in capsys.readouterr().err
