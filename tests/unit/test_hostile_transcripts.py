"""Hostile JSON transcripts (issue 18, item 10): one-line TranscriptError naming the file, and the
other transcripts of the same run unaffected."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from affectlens.io.transcript import Segment, TranscriptError, read_transcript

GOOD = [
    {"start_ms": 0, "end_ms": 1800, "text": "I am so happy to see you!"},
    {"start_ms": 1800, "end_ms": 2500, "text": "This is awful."},
]


@pytest.mark.parametrize(
    "name,text,reason",
    [
        ("deep.json", "[" * 100_000 + "]" * 100_000, "JSON nested too deeply"),
        ("deep_obj.json", '{"a":' * 100_000 + "1" + "}" * 100_000, "JSON nested too deeply"),
        ("infinity.json", '[{"start": Infinity, "end": 1, "text": "hi"}]', "Infinity is not a number JSON allows"),
        ("neg_infinity.json", '[{"start": 0, "end": -Infinity, "text": "hi"}]', "-Infinity is not a number JSON"),
        ("overflow.json", '[{"start": 1e400, "end": 1, "text": "hi"}]', "'start' = inf is out of range"),
        ("nan.json", '[{"start": NaN, "end": 1, "text": "hi"}]', "NaN is not a number JSON allows"),
        ("digits.json", '[{"start_ms": ' + "9" * 5000 + ', "end_ms": 1, "text": "hi"}]', "a number with 5000 digits"),
        ("huge.json", '[{"start": 1e300, "end": 1e301, "text": "hi"}]', "'start' = 1e+300 is out of range"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 20 else "",
)
def test_hostile_json_is_a_one_line_error_naming_the_file(tmp_path, name, text, reason):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(TranscriptError) as info:
        read_transcript(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message and len(message) < 300


def test_ordinary_json_is_unaffected(tmp_path):
    path = tmp_path / "ok.json"
    path.write_text(json.dumps({"segments": [{"start": 0.0, "end": 1.8, "text": " Hi!", "id": 12345678901234}]}))
    assert read_transcript(path) == [Segment(0, 0, 1800, "Hi!")]


def test_cli_scores_the_good_transcript_beside_hostile_ones(tmp_path):
    bad = []
    for name, text in [
        ("deep.json", "[" * 100_000 + "]" * 100_000),
        ("inf.json", '[{"start": 1e400, "end": 1, "text": "hi"}]'),
        ("digits.json", '[{"start_ms": ' + "9" * 5000 + ', "end_ms": 1, "text": "hi"}]'),
    ]:
        bad.append(tmp_path / name)
        bad[-1].write_text(text)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD))
    out = tmp_path / "t.jsonl"
    args = [a for p in [*bad, good] for a in ("--transcript", str(p))]
    p = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "text", *args, "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 1 and "Traceback" not in p.stderr
    errors = [line for line in p.stderr.splitlines() if "error" in line]
    assert len(errors) == 3 and all(sum(str(b) in line for line in errors) == 1 for b in bad), p.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["text"] for r in recs] == [g["text"] for g in GOOD] and all(r["status"] == "ok" for r in recs)
