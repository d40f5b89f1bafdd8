"""Speech emotion and audio-visual fusion on real RAVDESS clips and real media (../shared)."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pandas as pd
import pytest

import affectlens
from affectlens.cli import main
from affectlens.io.audio import SAMPLE_RATE, AudioError, is_audio_path, load_audio, sniff_audio

CLIP = "Actor_01/03-01-05-02-01-01-01.flac"  # actor 1, angry, strong intensity
CLIP2 = "Actor_02/03-01-03-01-02-01-02.flac"  # actor 2, happy, normal intensity
GRID = "talking_grid_s_swwp2s.mpg"  # one man speaking, speech at 0.55-2.19 s


@pytest.fixture(scope="module")
def ravdess(data_root) -> Path:
    return data_root / "ravdess"


def write_audio(path: Path, samples: np.ndarray, rate: int, codec: str | None = None) -> Path:
    """Write mono float samples in [-1, 1] with PyAV (codec chosen by suffix)."""
    codec = codec or {".wav": "pcm_s16le", ".flac": "flac", ".mp3": "libmp3lame"}[path.suffix]
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        fmt = "s16" if codec in ("pcm_s16le", "flac") else "fltp"
        data = (np.clip(samples, -1, 1) * 32767).astype(np.int16) if fmt == "s16" else samples.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(data.reshape(1, -1), format=fmt, layout="mono")
        frame.sample_rate = rate
        frame.pts = None
        for pkt in stream.encode(frame):
            out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    return path


def mux_video(path: Path, rgb: np.ndarray, seconds: float, audio: np.ndarray | None, fps: int = 10) -> Path:
    """An mp4 showing a still photo for ``seconds`` with (optionally) a 16 kHz mono sound track."""
    h, w = (rgb.shape[0] // 2) * 2, (rgb.shape[1] // 2) * 2
    rgb = np.ascontiguousarray(rgb[:h, :w])
    with av.open(str(path), "w") as out:
        vs = out.add_stream("mpeg4", rate=fps)
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        streams = [vs]
        if audio is not None:
            aus = out.add_stream("aac", rate=SAMPLE_RATE, layout="mono")
            streams.append(aus)
        for i in range(int(seconds * fps)):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)
        if audio is not None:
            af = av.AudioFrame.from_ndarray(audio.astype(np.float32).reshape(1, -1), format="flt", layout="mono")
            af.sample_rate = SAMPLE_RATE
            af.pts = None
            for pkt in aus.encode(af):
                out.mux(pkt)
            for pkt in aus.encode(None):
                out.mux(pkt)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "affectlens.cli", *args], capture_output=True, text=True, timeout=300)


# -- decoding ----------------------------------------------------------------------------------
def test_decodes_flac_wav_mp3_by_content(ravdess, tmp_path):
    a = load_audio(ravdess / CLIP)
    assert a.sample_rate == SAMPLE_RATE and a.samples.dtype == np.float32 and a.samples.ndim == 1
    assert 3000 < a.duration_ms < 5000 and np.abs(a.samples).max() <= 1.0
    for suffix in (".wav", ".mp3"):
        p = write_audio(tmp_path / f"clip{suffix}", a.samples, SAMPLE_RATE)
        b = load_audio(p)
        assert sniff_audio(p) and abs(b.duration_ms - a.duration_ms) < 120  # mp3 adds encoder padding
    hidden = tmp_path / "clip.dat"
    hidden.write_bytes((ravdess / CLIP).read_bytes())
    assert is_audio_path(hidden) and load_audio(hidden).duration_ms == pytest.approx(a.duration_ms)


def test_telephone_band_is_recognised(ravdess, tmp_path):
    from affectlens.models.speech import is_narrowband, narrowband

    a = load_audio(ravdess / CLIP2).samples
    assert not is_narrowband(a) and is_narrowband(narrowband(a))
    import scipy.signal

    low = load_audio(write_audio(tmp_path / "8k.wav", scipy.signal.resample_poly(a, 1, 2), 8000))
    assert low.source_rate == 8000 and is_narrowband(low.samples)


def test_audio_track_of_a_video(videos):
    a = load_audio(videos / GRID)
    assert a.source_rate > 0 and a.duration_ms == pytest.approx(3000, abs=100)


@pytest.mark.parametrize("case", ["missing", "empty", "text_as_wav", "video_without_audio"])
def test_unreadable_audio_is_a_one_line_error(tmp_path, photos, case):
    path = tmp_path / "x.wav"
    reason = {
        "missing": "no such file",
        "empty": "empty file",
        "text_as_wav": "not a readable audio",
        "video_without_audio": "no audio stream",
    }[case]
    if case == "empty":
        path.write_bytes(b"")
    elif case == "text_as_wav":
        path.write_text("not audio\n" * 50)
    elif case == "video_without_audio":
        from PIL import Image

        path = mux_video(
            tmp_path / "silent.mp4", np.asarray(Image.open(photos / "astronaut.png").convert("RGB")), 0.5, None
        )
    with pytest.raises(AudioError, match=reason) as err:
        load_audio(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


# -- voice ---------------------------------------------------------------------------------------
def test_real_clips_give_one_utterance_each(ravdess):
    for rel in (CLIP, CLIP2):
        [r] = affectlens.analyze_av(ravdess / rel)
        assert r.status == "speech" and r.modalities == ("voice",) and r.track is None and r.face is None
        assert 500 < r.start_ms < r.end_ms < 4000  # RAVDESS clips start and end with silence
        assert r.voice.labels == affectlens.list_models("speech")[0].labels and "calm" in r.voice.labels
        assert sum(r.voice.probs) == pytest.approx(1.0) and sum(r.fused.probs) == pytest.approx(1.0)
        assert r.fused.as_dict()["contempt"] == 0.0  # the voice model has no contempt: never invented
    table = affectlens.to_dataframe(affectlens.analyze_audio(ravdess / CLIP))
    assert len(table) == 1 and {"voice_calm", "voice_anger", "fused_neutral", "fused_top"} <= set(table.columns)
    assert table["modalities"].tolist() == ["voice"]


def test_silence_and_music_give_no_speech(ravdess, tmp_path):
    a = load_audio(ravdess / CLIP)
    lead = write_audio(
        tmp_path / "lead.wav", a.samples[: int(0.8 * SAMPLE_RATE)], SAMPLE_RATE
    )  # before the actor speaks
    zeros = write_audio(tmp_path / "zeros.wav", np.zeros(2 * SAMPLE_RATE), SAMPLE_RATE)
    # music without speech: a synthesized A-major chord (A3, C#4, E4 with 5 harmonics each) with
    # a slow tremolo, then a C-major chord, 3 s in all
    t = np.arange(3 * SAMPLE_RATE) / SAMPLE_RATE
    chord = np.zeros_like(t)
    for f0 in (220.0, 277.18, 329.63):
        for h in range(1, 6):
            f = np.where(t < 1.5, f0, f0 * 261.63 / 220.0)
            chord += np.sin(2 * np.pi * f * h * t) / h
    chord *= 0.2 * (1 + 0.3 * np.sin(2 * np.pi * 4 * t)) / np.abs(chord).max()
    music = write_audio(tmp_path / "chord.flac", chord, SAMPLE_RATE)
    for p in (lead, zeros, music):
        [r] = affectlens.analyze_av(p)
        assert r.status == "no speech", p.name
        assert r.voice is None and r.fused is None and r.modalities == () and "no speech" in r.note
        assert r.start_ms == 0 and r.end_ms == pytest.approx(load_audio(p).duration_ms)
    assert affectlens.to_dataframe(affectlens.analyze_audio(zeros))["fused_top"].isna().all()


def test_clipped_and_8khz_audio_are_still_analysed(ravdess, tmp_path):
    a = load_audio(ravdess / CLIP2)
    clipped = write_audio(tmp_path / "clipped.wav", np.clip(a.samples * 30, -1, 1), SAMPLE_RATE)
    import scipy.signal

    low = write_audio(tmp_path / "8k.wav", scipy.signal.resample_poly(a.samples, 1, 2), 8000)
    for p in (clipped, low):
        rs = affectlens.analyze_av(p)
        assert len(rs) >= 1 and all(r.status == "speech" and r.voice is not None for r in rs), p.name
    [r] = affectlens.analyze_av(low)
    from affectlens.models.speech import default_speech_model_name

    narrow = default_speech_model_name("narrow")
    assert "upsampled" in r.note and f"telephone-band audio: voice model {narrow}" in r.note
    assert "clipped audio" in affectlens.analyze_av(clipped)[0].note


# -- fusion with the face ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def talking_photo(ravdess, photos, tmp_path_factory) -> Path:
    """A real RAVDESS utterance muxed with frames of a real one-face photo."""
    from PIL import Image

    a = load_audio(ravdess / CLIP2)
    img = Image.open(photos / "grace_hopper.jpg").convert("RGB")
    img.thumbnail((320, 320))
    return mux_video(
        tmp_path_factory.mktemp("av") / "talking.mp4", np.asarray(img), a.duration_ms / 1000, a.samples, fps=5
    )


@pytest.mark.slow
def test_fused_run_on_a_video_with_speech(talking_photo):
    rs = affectlens.analyze_av(talking_photo)
    assert len(rs) >= 1
    for r in rs:
        assert r.status == "speech" and r.track == 0 and r.modalities == ("face", "voice")
        assert r.face_frames >= 3 and r.face is not None and r.voice is not None
        assert sum(r.fused.probs) == pytest.approx(1.0)
    table = affectlens.to_dataframe(affectlens.analyze_av(talking_photo, every=2))
    assert {"face_happiness", "voice_calm", "fused_happiness", "face_frames"} <= set(table.columns)
    assert (table["modalities"] == "face+voice").all()


@pytest.mark.slow
def test_fused_run_with_a_transcript(talking_photo, tmp_path):
    """Face, voice and the words of the utterance (RAVDESS statement 1, as spoken) fused per segment."""
    srt = tmp_path / "talking.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:05,000\nKids are talking by the door.\n\n", encoding="utf-8")
    rs = affectlens.analyze_av(talking_photo, transcript=str(srt))
    assert rs and all(r.modalities == ("face", "voice", "text") for r in rs)
    for r in rs:
        assert r.text is not None and sum(r.text.probs) == pytest.approx(1.0)
        assert sum(r.fused.probs) == pytest.approx(1.0)
    blank = tmp_path / "blank.json"  # the text model answers `empty`: text gives no vote, not a zero vote
    blank.write_text('[{"start_ms": 0, "end_ms": 5000, "text": "..."}]', encoding="utf-8")
    rs = affectlens.analyze_av(talking_photo, transcript=str(blank))
    assert rs and all(r.modalities == ("face", "voice") and r.text is None for r in rs)


@pytest.mark.slow
def test_cli_fused_outputs_and_face_only_modalities(talking_photo, tmp_path, capsys):
    out = tmp_path / "segs.csv"
    assert main(["analyze", str(talking_photo), "--out", str(out), "-q"]) == 0
    faces = pd.read_csv(out)  # the faces table: one row per face per frame
    assert len(faces) >= 3 and faces["frame"].notna().all() and (faces["track"] == 0).all()
    rows = pd.read_csv(tmp_path / "segs-segments.csv")  # the segments table, fixed name
    assert rows["modalities"].tolist() == ["face+voice"] * len(rows) and rows["track"].tolist() == [0] * len(rows)
    assert {"start_ms", "end_ms", "voice_anger", "face_anger", "fused_anger", "fused_top"} <= set(rows.columns)
    capsys.readouterr()
    assert main(["analyze", str(talking_photo), "--modalities", "voice", "--json"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert recs and all(r["modalities"] == ["voice"] and r["face"] is None for r in recs)
    assert main(["analyze", str(talking_photo), "--modalities", "face", "--json"]) == 0
    recs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    frames = [r for r in recs if "frame" in r]  # per-frame face records, then the face-only segment
    assert frames and all(r["modalities"] == ["face"] and r["status"] == "whole input" for r in recs[len(frames) :])


@pytest.mark.slow
def test_real_talking_video(videos):
    rs = affectlens.analyze_av(videos / GRID, fps=5)
    speech = [r for r in rs if r.status == "speech"]
    assert speech and all(r.modalities == ("face", "voice") for r in speech)
    assert min(r.start_ms for r in speech) < 800 and max(r.end_ms for r in speech) > 1900  # GRID: 0.55-2.19 s


@pytest.mark.slow
def test_video_without_audio_is_face_only_with_a_note(photos, tmp_path):
    from PIL import Image

    img = Image.open(photos / "astronaut.png").convert("RGB")
    img.thumbnail((320, 320))
    path = mux_video(tmp_path / "mute.mp4", np.asarray(img), 1.0, None, fps=5)
    [r] = affectlens.analyze_av(path, modalities=("face", "voice"))
    assert r.status == "no audio" and r.modalities == ("face",) and r.voice is None and "no audio" in r.note
    assert r.track == 0 and r.face_frames == 5
    p = run_cli("analyze", str(path), "-q")
    assert p.returncode == 0 and "no audio stream: face only" in p.stderr


@pytest.mark.slow
def test_bad_audio_does_not_lose_the_good_ones(ravdess, tmp_path):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    out = tmp_path / "r.jsonl"
    p = run_cli("analyze", str(ravdess / CLIP), str(bad), str(tmp_path / "none.flac"), "--out", str(out), "-q")
    assert p.returncode == 1
    lines = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and any(str(bad) in line for line in lines) and any("none.flac" in line for line in lines)
    segments = tmp_path / "r-segments.jsonl"  # audio gives speech segments: the segments table
    recs = [json.loads(line) for line in segments.read_text().splitlines()]
    assert len(recs) == 1 and recs[0]["status"] == "speech" and recs[0]["source"].endswith(".flac")


@pytest.mark.slow
def test_training_recipe_folds_by_actor_and_exports_faithfully(ravdess, tmp_path):
    """The training code on a small real subset (4 actors: their neutral clips and every other
    clip of the rest, 32 each): folds hold out whole actors and the ONNX export gives the fitted
    classifier's probabilities."""
    import onnxruntime as ort

    from affectlens.eval.datasets.ravdess import SpeechSet, actor_folds, load_ravdess
    from affectlens.train.speech import crossvalidate, export_onnx, extract_features, make_classifier

    full = load_ravdess(ravdess)
    idx = np.arange(len(full))
    keep = idx[np.isin(full.actors, [1, 2, 3, 4]) & ((full.labels == 0) | (idx % 2 == 0))]
    data = SpeechSet(
        "ravdess",
        tuple(full.paths[i] for i in keep),
        full.labels[keep],
        full.label_names,
        full.actors[keep],
        full.intensity[keep],
    )
    assert [list(f) for f in actor_folds(data.actors, 2)] == [[1, 2], [3, 4]]
    x = extract_features(data, tmp_path / "f.npz", progress=False)
    assert x.shape == (128, 341) and np.isfinite(x).all()
    np.testing.assert_array_equal(extract_features(data, tmp_path / "f.npz"), x)  # read back from the cache
    cv = crossvalidate(x, data, n_folds=2, progress=False)
    assert [f.actors for f in cv.folds] == [(1, 2), (3, 4)] and cv.confusion.sum() == 128
    clf = make_classifier().fit(x, data.labels)
    export_onnx(clf, tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (p,) = sess.run(["probabilities"], {"features": x})
    np.testing.assert_allclose(p, clf.predict_proba(x), atol=1e-4)
