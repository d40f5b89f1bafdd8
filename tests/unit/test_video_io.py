"""Recognising videos by content, sampling options and video table export."""

from __future__ import annotations

import pytest

from affectlens.export.video import frame_records, summarize_tracks
from affectlens.io.video import Sampling, is_video_path, sniff_video
from affectlens.jobs import expand, probe
from affectlens.options import Options, VideoOptions
from affectlens.pipeline.video import auto_detect_size
from affectlens.types import Expression, Face, FrameResult, TrackedFace


def test_real_videos_and_photos_are_told_apart_by_content(videos, photos, tmp_path):
    for v in sorted(videos.glob("*.mp*")):
        assert sniff_video(v), v
    for p in sorted(photos.iterdir()):
        assert not sniff_video(p) and not is_video_path(p), p
    (tmp_path / "clip").symlink_to(videos / "talking_grid_s_swwp2s.mpg")
    (tmp_path / "photo.jpg").symlink_to(photos / "grace_hopper.jpg")
    found = list(expand([tmp_path / "clip", tmp_path / "photo.jpg", tmp_path / "gone.mp4"]))
    assert found[:2] == [str(tmp_path / "clip"), str(tmp_path / "photo.jpg")]
    assert probe(found[0]).kind == "av" and probe(found[1]).kind == "image"  # by content, not by name
    assert "gone.mp4: no such file" in str(found[2])
    assert len(list(expand([videos]))) == 4  # folders: by suffix


def test_sampling_and_options_are_validated():
    with pytest.raises(ValueError, match="either fps or every"):
        Sampling(fps=5, every=2)
    with pytest.raises(ValueError, match="end"):
        Sampling(start=3, end=2)
    with pytest.raises(ValueError, match="valid: none, ema, oneeuro"):
        Options().replace(smooth="median")
    with pytest.raises(ValueError, match="unknown option.*fsp.*valid: .*fps"):
        Options().replace(fsp=5)
    o = Options().replace(fps=5, min_face=30, max_centre_dist=2.0)
    assert o.video.sampling.fps == 5 and o.detection.min_face == 30 and o.detection.size is None
    assert o.video.tracking.max_centre_dist == 2.0  # every tracker setting can be set
    with pytest.raises(ValueError, match="detect size must be >= 320"):
        Options().replace(detect_size=200)
    with pytest.raises(ValueError, match="workers"):
        VideoOptions(workers=0)


def test_detector_sees_half_the_frame_within_320_to_640():
    assert auto_detect_size(640, 480) == 320
    assert auto_detect_size(480, 360) == 320
    assert auto_detect_size(1280, 720) == 640
    assert auto_detect_size(1920, 1080) == 640
    assert auto_detect_size(960, 540) == 480


def _frame(n, t, faces):
    labels = ("neutral", "happiness")
    out = []
    for i, (track, p) in enumerate(faces):
        e = Expression(labels, (1 - p, p))
        out.append(TrackedFace(i, track, Face((10.0 * i, 0.0, 50.0, 50.0), 0.9, ()), e, e))
    return FrameResult("v.mp4", n, t, 640, 480, tuple(out))


def test_records_and_summaries():
    frames = [
        _frame(0, 0.0, [(0, 0.1)]),
        _frame(1, 40.0, []),
        _frame(2, 80.0, [(0, 0.9), (1, 0.2)]),
        _frame(3, 120.0, [(0, 0.8)]),
    ]
    recs = [r for f in frames for r in frame_records(f)]
    assert [r["track"] for r in recs] == [0, None, 0, 1, 0]
    assert recs[1]["face"] is None and recs[1]["probs"] == {} and recs[1]["time_ms"] == 40.0
    s0, s1 = summarize_tracks(frames)
    assert (s0.track, s0.first_ms, s0.last_ms, s0.frames) == (0, 0.0, 120.0, 3)
    assert [(g.expression, g.start_ms, g.end_ms) for g in s0.segments] == [("neutral", 0, 0), ("happiness", 80, 120)]
    assert s0.dominant == "happiness" and dict(s0.mean_probs)["happiness"] == pytest.approx(0.6)
    assert s1.frames == 1 and s1.dominant == "neutral"
