"""Hostile video inputs (issue 18, items 1, 5 and 14): a Latin-1 AVI title, a phone-style rotated
video and videos that give no frame, crafted in a temporary folder from the real smile clip
(../shared/media/videos)."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from affectlens.api import analyze_video_iter
from affectlens.io.video import Sampling, VideoReader

SMILE = "smile_pyfeat_single_face.mp4"  # one face, 640x360
FRAMES = 10


@pytest.fixture(scope="module")
def smile_frames(videos) -> list[np.ndarray]:
    with av.open(str(videos / SMILE)) as c:
        return [f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), range(FRAMES))]


def encode(
    path: Path,
    frames: list[np.ndarray],
    *,
    turn: int = 0,
    display_rotation: int | None = None,
    title: str | None = None,
) -> Path:
    """Frames turned by ``np.rot90(k=turn)`` encoded as MPEG-4 at 25 fps, with an optional
    display matrix (``display_rotation`` degrees counter-clockwise) and container title."""
    turned = [np.ascontiguousarray(np.rot90(f, turn)) for f in frames]
    with av.open(str(path), "w") as out:
        if title is not None:
            out.metadata["title"] = title
        vs = out.add_stream("mpeg4", rate=25)
        vs.height, vs.width = turned[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        if display_rotation is not None:
            vs.set_display_rotation(display_rotation)
        for i, rgb in enumerate(turned):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
    return path


def faces(path: Path) -> list[list[tuple[float, ...]]]:
    return [[tf.face.box for tf in r.faces] for r in analyze_video_iter(path, smooth="none")]


def test_latin1_avi_title_is_analysed_normally(smile_frames, tmp_path):
    clean = encode(tmp_path / "clean.avi", smile_frames, title="CafX")
    data = clean.read_bytes()
    assert data.count(b"CafX") == 1
    path = tmp_path / "latin1.avi"
    path.write_bytes(data.replace(b"CafX", b"Caf\xe9"))
    got = faces(path)
    assert len(got) == FRAMES and got == faces(clean)


@pytest.mark.parametrize("turn,rotation", [(-1, 90), (1, -90), (2, 180)])
def test_rotated_video_gives_the_faces_of_the_upright_frames(smile_frames, tmp_path, turn, rotation):
    """Pixels stored turned (as a phone held sideways stores them) with a display matrix that turns
    them back: frames come upright, and faces match those of the same frames stored upright.
    Before the fix the rotate-90 case found 0 faces in 10 frames."""
    upright = encode(tmp_path / "upright.mp4", smile_frames)
    rotated = encode(tmp_path / f"rotated{rotation}.mp4", smile_frames, turn=turn, display_rotation=rotation)
    with VideoReader(rotated) as reader:
        assert (reader.width, reader.height) == (640, 360) and reader.rotation == rotation % 360
        first = next(iter(reader))
    assert first.rgb.shape == (360, 640, 3)
    want, got = faces(upright), faces(rotated)
    assert sum(map(len, want)) == FRAMES and [len(f) for f in got] == [len(f) for f in want]
    for a, b in zip(want, got):  # the same face: encoding the turned pixels changes a few of them
        assert iou(a[0], b[0]) > 0.8, (a, b)


def iou(a, b) -> float:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    w = max(0.0, min(ax + aw, bx + bw) - max(ax, bx))
    h = max(0.0, min(ay + ah, by + bh) - max(ay, by))
    return w * h / (aw * ah + bw * bh - w * h)


# -- 14. videos that give no frame -----------------------------------------------------------------------


def zero_frame_avi(path: Path) -> Path:
    """An AVI with a video stream that holds no frame."""
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=25)
        vs.width, vs.height, vs.pix_fmt = 64, 64, "yuv420p"
        out.start_encoding()
    return path


def test_video_without_frames_or_start_past_the_end_says_so(smile_frames, tmp_path):
    with VideoReader(zero_frame_avi(tmp_path / "zero.avi")) as reader:
        assert list(reader) == [] and reader.stopped == "no frame decodes (an empty or unreadable video stream)"
    clip = encode(tmp_path / "clip.mp4", smile_frames)
    with VideoReader(clip, Sampling(start=99)) as reader:
        assert list(reader) == []
        assert reader.stopped.startswith("no frame at or after the start time 99.00 s (the last frame is at 0.36")
    with VideoReader(clip, Sampling(start=0.2)) as reader:
        assert len(list(reader)) == 5 and reader.stopped is None


def test_cli_counts_a_frameless_video_as_a_failure_and_keeps_the_others(smile_frames, tmp_path):
    zero = zero_frame_avi(tmp_path / "zero.avi")
    clip = encode(tmp_path / "clip.mp4", smile_frames)
    out = tmp_path / "r.jsonl"
    p = subprocess.run(
        [sys.executable, "-m", "affectlens.cli", "analyze", str(zero), str(clip), "--out", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert p.returncode == 1 and "Traceback" not in p.stderr, p.stderr
    assert sum(f"{zero}: no frame decodes" in line for line in p.stderr.splitlines()) == 1, p.stderr
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(recs) == FRAMES and {r["source"] for r in recs} == {str(clip)}
