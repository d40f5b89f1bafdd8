"""Hostile video inputs (issue 18, items 1 and 5): a Latin-1 AVI title and a phone-style rotated
video, both crafted in a temporary folder from the real smile clip (../shared/media/videos)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from affectlens.io.video import VideoReader
from affectlens.pipeline.video import analyze_video_iter

SMILE = "smile_pyfeat_single_face.mp4"  # one face, 640x360
FRAMES = 10


@pytest.fixture(scope="module")
def smile_frames(videos) -> list[np.ndarray]:
    with av.open(str(videos / SMILE)) as c:
        return [f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), range(FRAMES))]


def encode(path: Path, frames: list[np.ndarray], *, turn: int = 0, display_rotation: int | None = None,
           title: str | None = None) -> Path:
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
