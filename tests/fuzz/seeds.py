"""Seed inputs for the fuzz suite, built once in a temporary folder from the real media under
../shared (never copied into the repository): a photo (JPEG as shared, and a small PNG of the
astronaut), a RAVDESS utterance (its FLAC, and a 16 kHz WAV made from it), a 0.8 s clip with
sound cut from the shared smile video, and a transcript written as .srt, .vtt and .json plus a
plain text file."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

CLIP = "Actor_01/03-01-05-02-01-01-01.flac"  # actor 1, angry, strong intensity
VIDEO = "smile_pyfeat_single_face.mp4"  # one face, 640x360, h264 + mp3
SEGMENTS = [
    (0, 1800, "I am so happy to see you!"),
    (1800, 2500, "This is awful."),
    (2500, 4000, "Well, I did not expect that at all."),
]
TEXT_LINES = ["What a wonderful day.", "I am furious about this.", "It is fine, I guess."]


@dataclass(frozen=True)
class Seed:
    """One seed file and the kind of input it is (``media``, ``text`` or ``transcript``)."""

    name: str
    path: Path
    kind: str

    @property
    def data(self) -> bytes:
        return self.path.read_bytes()


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    """A 16-bit mono WAV of float samples in [-1, 1]."""
    data = (np.clip(samples, -1, 1) * 32767).astype(np.int16).reshape(1, -1)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(data, format="s16", layout="mono")
        frame.sample_rate = rate
        for pkt in stream.encode(frame):
            out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    return path


def _decode_clip(src: Path, seconds: float) -> tuple[list[np.ndarray], np.ndarray, int]:
    """The first ``seconds`` of ``src``: RGB frames at half size, and its mono audio and rate."""
    with av.open(str(src)) as c:
        frames = []
        for f in c.decode(video=0):
            if f.time > seconds:
                break
            frames.append(f.reformat(width=f.width // 2, height=f.height // 2).to_ndarray(format="rgb24"))
    with av.open(str(src)) as c:
        chunks, rate = [], 44100
        for f in c.decode(audio=0):
            rate = f.sample_rate
            if f.time > seconds:
                break
            x = f.to_ndarray()
            chunks.append(x.mean(axis=0) if f.format.is_planar else x.reshape(-1, len(f.layout.channels)).mean(axis=1))
    return frames, np.concatenate(chunks).astype(np.float32), rate


def write_clip(path: Path, src: Path, seconds: float = 0.8) -> Path:
    """A short H.264 + AAC .mp4 cut from ``src`` (25 fps, half size)."""
    frames, audio, rate = _decode_clip(src, seconds)
    with av.open(str(path), "w") as out:
        vs = out.add_stream("libx264", rate=25, options={"preset": "ultrafast", "g": "8"})
        vs.height, vs.width = frames[0].shape[:2]
        vs.pix_fmt = "yuv420p"
        aus = out.add_stream("aac", rate=rate, layout="mono")
        for i, rgb in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, 25)
            for pkt in vs.encode(frame):
                out.mux(pkt)
        af = av.AudioFrame.from_ndarray(audio.reshape(1, -1), format="flt", layout="mono")
        af.sample_rate = rate
        for pkt in aus.encode(af):
            out.mux(pkt)
        for stream in (vs, aus):
            for pkt in stream.encode(None):
                out.mux(pkt)
    return path


def _ts(ms: int, sep: str) -> str:
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def write_transcripts(folder: Path) -> dict[str, Path]:
    srt = "\n".join(f"{i + 1}\n{_ts(a, ',')} --> {_ts(b, ',')}\n{t}\n" for i, (a, b, t) in enumerate(SEGMENTS))
    vtt = "WEBVTT\n\n" + "\n".join(f"{_ts(a, '.')} --> {_ts(b, '.')}\n{t}\n" for a, b, t in SEGMENTS)
    js = json.dumps(
        [{"start_ms": a, "end_ms": b, "text": t, "speaker": f"S{i % 2}"} for i, (a, b, t) in enumerate(SEGMENTS)]
    )
    paths = {}
    for suffix, text in ((".srt", srt), (".vtt", vtt), (".json", js)):
        paths[suffix] = folder / f"transcript{suffix}"
        paths[suffix].write_text(text, encoding="utf-8")
    return paths


def build_seeds(folder: Path, shared: Path) -> dict[str, Seed]:
    """Every seed, by name: jpeg, png, flac, wav, mp4, srt, vtt, json, txt."""
    from PIL import Image

    from affectlens.io.audio import load_audio

    folder.mkdir(parents=True, exist_ok=True)
    photos, ravdess = shared / "media" / "photos", shared / "datasets" / "ravdess"
    jpeg = Path(shutil.copy(photos / "grace_hopper.jpg", folder / "photo.jpg"))
    png = folder / "photo.png"
    Image.open(photos / "astronaut.png").resize((160, 160)).save(png)
    flac = Path(shutil.copy(ravdess / CLIP, folder / "speech.flac"))
    wav = write_wav(folder / "speech.wav", load_audio(flac).samples)
    mp4 = write_clip(folder / "clip.mp4", shared / "media" / "videos" / VIDEO)
    txt = folder / "lines.txt"
    txt.write_text("\n".join(TEXT_LINES) + "\n", encoding="utf-8")
    seeds = {
        n: Seed(n, p, "media") for n, p in (("jpeg", jpeg), ("png", png), ("flac", flac), ("wav", wav), ("mp4", mp4))
    }
    seeds.update({s[1:]: Seed(s[1:], p, "transcript") for s, p in write_transcripts(folder).items()})
    seeds["txt"] = Seed("txt", txt, "text")
    return seeds
