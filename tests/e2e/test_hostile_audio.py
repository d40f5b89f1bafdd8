"""Hostile audio inputs (issue 18, items 1, 2, 3, 11, 13): each crafted in a temporary folder
from a real RAVDESS utterance (../shared), by PyAV re-encoding or byte patching."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from affectlens.api import analyze_audio as analyze_audio_results
from affectlens.io.audio import SAMPLE_RATE, AudioError, load_audio

CLIP = "Actor_01/03-01-05-02-01-01-01.flac"  # actor 1, angry, strong intensity
CLIP2 = "Actor_02/03-01-03-01-02-01-02.flac"  # actor 2, happy, normal intensity


@pytest.fixture(scope="module")
def speech(data_root) -> np.ndarray:
    return load_audio(data_root / "ravdess" / CLIP).samples


def write_wav(
    path: Path,
    samples: np.ndarray,
    rate: int = SAMPLE_RATE,
    *,
    codec: str = "pcm_s16le",
    title: str | None = None,
    layout: str = "mono",
) -> Path:
    """A WAV (or MP3 with ``codec="libmp3lame"``) of mono float samples, optionally with a title tag."""
    fmt = {"pcm_s16le": "s16", "pcm_f32le": "flt", "libmp3lame": "fltp"}[codec]
    x = samples.astype(np.float32).reshape(1, -1)
    if fmt == "s16":
        data = (np.clip(x, -1, 1) * 32767).astype(np.int16)
    else:  # flt (packed mono) or fltp (planar: one row per channel)
        data = np.repeat(x, 2, axis=0) if layout == "stereo" else x
    with av.open(str(path), "w") as out:
        if title is not None:
            out.metadata["title"] = title
        stream = out.add_stream(codec, rate=rate, layout=layout)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data), format=fmt, layout=layout)
        frame.sample_rate = rate
        frame.pts = None
        for pkt in stream.encode(frame):
            out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    return path


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "affectlens.cli", *args], capture_output=True, text=True, timeout=300)


def assert_one_line(exc: Exception, path: Path, reason: str) -> None:
    message = str(exc)
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message, message


# -- 1. non-UTF-8 metadata ---------------------------------------------------------------------------


def latin1_wav(tmp_path: Path, samples: np.ndarray) -> Path:
    """A WAV whose LIST/INFO title is Latin-1 'Café' (as Windows tools write it), by byte patching."""
    clean = write_wav(tmp_path / "clean.wav", samples, title="CafX")
    data = clean.read_bytes()
    assert data.count(b"INAM") == 1 and data.count(b"CafX") == 1
    path = tmp_path / "latin1.wav"
    path.write_bytes(data.replace(b"CafX", b"Caf\xe9"))
    return path


def test_latin1_wav_title_is_analysed_normally(speech, tmp_path):
    path = latin1_wav(tmp_path, speech)
    a = load_audio(path)
    assert np.array_equal(a.samples, load_audio(tmp_path / "clean.wav").samples)
    [r] = analyze_audio_results(path)
    assert r.status == "speech" and r.voice is not None and np.isfinite(r.voice.probs).all()


@pytest.mark.slow
def test_cli_analyses_a_latin1_wav_with_the_others(speech, data_root, tmp_path):
    path = latin1_wav(tmp_path, speech)
    out = tmp_path / "r.jsonl"
    p = run_cli("analyze", str(path), str(data_root / "ravdess" / CLIP2), "--out", str(out), "-q")
    assert p.returncode == 0, p.stderr
    segments = tmp_path / "r-segments.jsonl"  # audio gives speech segments: the segments table
    recs = [json.loads(line) for line in segments.read_text().splitlines()]
    assert sorted({Path(r["source"]).name for r in recs}) == sorted([path.name, Path(CLIP2).name])


# -- 2. impossible headers -----------------------------------------------------------------------------


def patched(src: Path, dst: Path, offset: int, fmt: str, value: int) -> Path:
    data = bytearray(src.read_bytes())
    data[offset : offset + struct.calcsize(fmt)] = struct.pack(fmt, value)
    dst.write_bytes(bytes(data))
    return dst


# RIFF/WAVE canonical header: channels at byte 22 (<H), sample rate at 24 (<I), bits per sample at 34 (<H)
@pytest.mark.parametrize(
    "field,offset,fmt,value,reason",
    [
        ("rate", 24, "<I", 1, "sample rate 1 Hz"),
        ("rate", 24, "<I", 0x7FFFFFFF, "sample rate 2147483647 Hz"),
        ("channels", 22, "<H", 200, "200 channels"),
        ("bits", 34, "<H", 0x106D, "no decoder for its audio stream"),
    ],
)
def test_impossible_wav_header_is_refused_up_front(speech, tmp_path, field, offset, fmt, value, reason):
    """Checked in a child process with a 3 GB address-space limit: before the fix the 1 Hz header
    made the resampler grow past 4 GB, and the 0x106D one raised AttributeError."""
    path = patched(write_wav(tmp_path / "ok.wav", speech), tmp_path / f"bad_{field}.wav", offset, fmt, value)
    child = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))\n"
        "from affectlens.io.audio import load_audio\n"
        "try:\n    load_audio(sys.argv[1])\nexcept Exception as exc:\n"
        "    print(type(exc).__name__, exc, sep='|')\nelse:\n    print('decoded')\n"
    )
    p = subprocess.run([sys.executable, "-c", child, str(path)], capture_output=True, text=True, timeout=120)
    kind, _, message = p.stdout.strip().partition("|")
    assert kind == "AudioError", (p.stdout, p.stderr[-500:])
    assert message.startswith(f"{path}: ") and reason in message and "\n" not in message


def test_header_stating_an_impossible_duration_is_refused(data_root, tmp_path):
    """A real FLAC whose STREAMINFO total-samples field is patched to 2**36 - 1 (49.7 days at 16 kHz)."""
    data = bytearray((data_root / "ravdess" / CLIP).read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO first: rate/channels/bits/total at byte 18
    (packed,) = struct.unpack(">Q", data[18:26])
    data[18:26] = struct.pack(">Q", packed | (2**36 - 1))
    path = tmp_path / "forever.flac"
    path.write_bytes(bytes(data))
    with pytest.raises(AudioError) as err:
        load_audio(path)
    assert_one_line(err.value, path, "header states 1193.0 h of audio, more than the 4 h limit")


# -- 3. decode errors of every kind are AudioError -----------------------------------------------------


def test_mp3_that_changes_rate_and_channels_part_way_decodes_both_parts(speech, tmp_path):
    """Two MP3 streams back to back (44.1 kHz stereo, then 22.05 kHz mono) used to fail with
    'Frame does not match AudioResampler setup.' and lose the file."""
    from scipy.signal import resample_poly

    first = write_wav(tmp_path / "a.mp3", resample_poly(speech, 441, 160), 44100, codec="libmp3lame", layout="stereo")
    second = write_wav(tmp_path / "b.mp3", resample_poly(speech, 441, 320), 22050, codec="libmp3lame")
    path = tmp_path / "joined.mp3"
    path.write_bytes(first.read_bytes() + second.read_bytes())
    a = load_audio(path)
    assert a.duration_ms == pytest.approx(2 * 1000 * len(speech) / SAMPLE_RATE, abs=300)


def test_mutated_mp3_bytes_never_escape_as_another_exception(speech, tmp_path):
    """200 copies of a real MP3 with 20 random bytes replaced (seeded): each decodes or is an
    AudioError naming the file; before the fix 6 of them raised ValueError / UnicodeDecodeError."""
    data = np.frombuffer(write_wav(tmp_path / "clip.mp3", speech, codec="libmp3lame").read_bytes(), np.uint8)
    rng = np.random.default_rng(0)
    path = tmp_path / "mutant.mp3"
    outcomes = {"decoded": 0, "AudioError": 0}
    for _ in range(200):
        b = data.copy()
        b[rng.integers(0, len(b), size=20)] = rng.integers(0, 256, size=20)
        path.write_bytes(b.tobytes())
        try:
            load_audio(path)
            outcomes["decoded"] += 1
        except AudioError as exc:
            assert_one_line(exc, path, "")
            outcomes["AudioError"] += 1
    assert sum(outcomes.values()) == 200 and outcomes["decoded"] > 100


# -- 11. NaN samples -------------------------------------------------------------------------------------


def test_nan_samples_leave_that_segment_unscored_with_a_note(data_root, tmp_path):
    """Two utterances; NaN inside the first only. The first gets no voice and a note saying why,
    the second is scored as in the clean file; nothing is NaN."""
    first = load_audio(data_root / "ravdess" / CLIP).samples
    second = load_audio(data_root / "ravdess" / CLIP2).samples
    samples = np.concatenate([first, np.zeros(SAMPLE_RATE, np.float32), second])
    clean = analyze_audio_results(write_wav(tmp_path / "clean.wav", samples, codec="pcm_f32le"))
    samples[20000:20100] = np.nan
    dirty = analyze_audio_results(write_wav(tmp_path / "nan.wav", samples, codec="pcm_f32le"))
    assert len(dirty) == len(clean) == 2
    bad, good = dirty
    assert bad.status == "speech" and bad.voice is None and bad.fused is None
    assert "100 NaN or infinite audio sample(s)" in bad.note
    assert good.voice is not None and good.voice.probs == pytest.approx(clean[1].voice.probs, abs=1e-6)
    # the VAD state stays finite: the next utterance is found with (almost) the same probability
    assert good.speech_prob == pytest.approx(clean[1].speech_prob, abs=0.01)


@pytest.mark.slow
def test_cli_json_output_has_no_bare_nan(data_root, tmp_path):
    samples = load_audio(data_root / "ravdess" / CLIP).samples.copy()
    samples[20000:20100] = np.nan  # (infinite samples are clipped to full scale when decoded)
    path = write_wav(tmp_path / "nan.wav", samples, codec="pcm_f32le")
    p = run_cli("analyze", str(path), "--json", "-q")
    assert p.returncode == 0, p.stderr

    def no_constants(name):
        raise AssertionError(f"bare {name} in JSON output")

    recs = [json.loads(line, parse_constant=no_constants) for line in p.stdout.splitlines() if line.strip()]
    assert len(recs) == 1 and "NaN or infinite" in recs[0]["note"]


# -- 13. memory ---------------------------------------------------------------------------------------

#: Peak resident memory allowed for the voice analysis of one hour of audio (measured: see
#: benchmarks/memory.py: 2754 MB before the bounded decoding, 346 MB after).
ONE_HOUR_CEILING_MB = 1024


@pytest.mark.slow
def test_one_hour_of_audio_stays_under_the_memory_ceiling():
    import importlib.util

    root = Path(__file__).resolve().parents[2]
    spec = importlib.util.spec_from_file_location("memory_bench", root / "benchmarks" / "memory.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        audio = Path(tmp) / "hour.wav"
        seconds = bench.write_long_wav(audio, 60)
        result = bench.measure(root / "src", audio)
    assert seconds == pytest.approx(3600) and "error" not in result, result
    assert result["segments"] > 500 and result["nan_segments"] == 0
    assert result["peak_mb"] < ONE_HOUR_CEILING_MB, result
