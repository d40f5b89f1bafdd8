"""Resident memory of a long video (issue 18, item 13): a 10-minute 640x480 30 fps video,
analysed frame by frame as users run it (``affectlens analyze VIDEO --out frames.csv``), stays
under a stated ceiling. The one-hour audio counterpart is
tests/e2e/test_hostile_audio.py::test_one_hour_of_audio_stays_under_the_memory_ceiling; both
use benchmarks/memory.py, which prints the measured peaks (see the README's limits)."""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Peak resident memory allowed for ``affectlens analyze`` of a 10-minute video (every frame,
#: default options, frame rows written to CSV). Measured with benchmarks/memory.py: see README.
TEN_MINUTE_VIDEO_CEILING_MB = 1024
#: The video's length; a shorter one (e.g. 0.5) checks this test itself quickly.
MINUTES = float(os.environ.get("AFFECTLENS_MEMORY_VIDEO_MINUTES", "10"))


def _bench():
    spec = importlib.util.spec_from_file_location("memory_bench", ROOT / "benchmarks" / "memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    return bench


@pytest.mark.slow
def test_a_ten_minute_video_stays_under_the_memory_ceiling():
    bench = _bench()
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "pan.mp4"
        frames = bench.write_pan_video(video, MINUTES)
        result = bench.measure_video(ROOT / "src", video, Path(tmp) / "frames.csv")
    assert frames == round(MINUTES * 60 * bench.FPS) and "error" not in result, result
    # every frame is analysed and has the one face (a row per face per frame)
    assert result["exit"] == 0 and result["frames"] == frames, result
    assert result["peak_mb"] < TEN_MINUTE_VIDEO_CEILING_MB, result
