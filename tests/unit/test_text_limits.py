"""Text length limit (issue 18, item 13): a 10 MB line is refused with a clear status and log line
instead of taking gigabytes, and the other texts are scored as usual."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import numpy as np

from affectlens.models.text import MAX_TEXT_CHARS
from affectlens.pipeline.text import analyze_texts as predict_texts

HUGE = "so happy " * (10_000_000 // 9)  # a 10 MB line of real words


def test_text_over_the_limit_is_not_scored_and_the_others_are(caplog):
    texts = ["I am so happy to see you!", HUGE, "x" * MAX_TEXT_CHARS, "This is awful."]
    with caplog.at_level(logging.WARNING, logger="affectlens"):
        results = predict_texts(texts)
    assert [r.status for r in results] == ["ok", "too long", "ok", "ok"]  # exactly at the limit is scored
    assert results[1].probs == () and results[1].label is None
    # neighbours unaffected (to float rounding: the default transformer pads a batch to its longest text)
    np.testing.assert_allclose(results[0].probs, predict_texts(texts[:1])[0].probs, atol=1e-6)
    [line] = [r.getMessage() for r in caplog.records if "too long" in r.getMessage()]
    assert f"{len(HUGE)} characters is more than the limit of {MAX_TEXT_CHARS}" in line and "\n" not in line


def test_cli_file_with_a_10_mb_line(tmp_path):
    path = tmp_path / "lines.txt"
    path.write_text("I am so happy to see you!\n" + HUGE + "\nThis is awful.\n")
    out = tmp_path / "t.jsonl"
    p = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "text", "--file", str(path), "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    assert sum("more than the limit of" in line for line in p.stderr.splitlines()) == 1
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["status"] for r in recs] == ["ok", "too long", "ok"]
