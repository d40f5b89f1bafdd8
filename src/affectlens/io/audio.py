"""Decode audio files and the audio track of videos into 16 kHz mono float32 (PyAV).

Decoding is PyAV's (FFmpeg), so wav, flac, mp3, ogg/opus, m4a/aac and the sound of any
video container FFmpeg reads all work; inputs are recognised by content, not by name.
Samples are float32 in [-1, 1] at :data:`SAMPLE_RATE` Hz, one channel (channels are
averaged), starting at the first decoded sample (time 0 ms = start of the audio stream).

Failures raise :class:`AudioError` (an :class:`~affectlens.io.image.InputError`) with one line
naming the input and the reason: missing or empty file, not a media file FFmpeg can read, no
audio stream (e.g. a silent video), or audio that does not decode.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.io.image import InputError, check_file
from affectlens.io.video import import_av

log = logging.getLogger("affectlens")

#: The rate every affectlens speech model and the voice activity detector work at.
SAMPLE_RATE = 16000
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif",
                            ".aiff"})


class AudioError(InputError):
    """An audio input that cannot be read; the message names it and the reason."""


@dataclass(frozen=True)
class Audio:
    """Decoded audio: mono float32 ``samples`` at ``sample_rate`` Hz.

    ``source_rate`` and ``source_channels`` describe the stream before resampling and down-mixing.
    """

    source: str
    samples: np.ndarray  # (n,) float32 in [-1, 1]
    sample_rate: int
    source_rate: int
    source_channels: int

    @property
    def duration_ms(self) -> float:
        return 1000.0 * len(self.samples) / self.sample_rate


def sniff_audio(path: str | os.PathLike) -> bool:
    """True when the file's first bytes are those of a common audio-only format.

    Recognises RIFF/WAVE, FLAC, MP3 (ID3 tag or MPEG audio frame sync), AIFF, ADTS AAC and
    ISO-BMFF audio brands (m4a). Ogg is ambiguous (audio or video) and is decided by its streams.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
    except OSError:
        return False
    if len(head) < 4:
        return False
    return (
        (head[:4] == b"RIFF" and head[8:12] == b"WAVE")
        or head[:4] == b"fLaC"
        or head[:3] == b"ID3"
        or (head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06) != 0)  # MPEG audio layer I-III
        or (head[0] == 0xFF and (head[1] & 0xF6) == 0xF0)  # ADTS AAC
        or (head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"))
        or (head[4:8] == b"ftyp" and head[8:12] in (b"M4A ", b"M4B ", b"F4A "))
    )


def stream_kinds(path: str | os.PathLike) -> tuple[bool, bool]:
    """``(has_video, has_audio)`` of a media file (both False when FFmpeg cannot open it)."""
    av = import_av("audio")
    try:
        with av.open(os.fspath(path)) as c:
            return bool(c.streams.video), bool(c.streams.audio)
    except (av.FFmpegError, OSError, ValueError):
        return False, False


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> Audio:
    """Decode the first audio stream of ``path`` (an audio file or a video) to mono float32."""
    av = import_av("audio")
    name = os.fspath(path)
    check_file(name, "an audio or video file", AudioError)
    try:
        container = av.open(name)
    except av.FFmpegError as exc:
        raise AudioError(f"{name}: not a readable audio or video file ({_reason(exc)})") from None
    with container:
        if not container.streams.audio:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise AudioError(f"{name}: no audio stream (has {', '.join(kinds)})")
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        src_rate = int(ctx.sample_rate or 0)
        src_channels = int(getattr(ctx, "channels", 0) or len(getattr(ctx.layout, "channels", ())) or 0)
        resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
        chunks: list[np.ndarray] = []
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):  # flush
                chunks.append(out.to_ndarray().reshape(-1))
        except av.FFmpegError as exc:
            if not chunks:
                raise AudioError(f"{name}: audio does not decode ({_reason(exc)})") from None
            done = sum(len(c) for c in chunks) / sample_rate
            log.warning("%s: audio stopped decoding at %.2f s (%s); analysing what decoded", name, done, _reason(exc))
    samples = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    np.clip(samples, -1.0, 1.0, out=samples)
    return Audio(source=name, samples=samples, sample_rate=sample_rate, source_rate=src_rate,
                 source_channels=src_channels)


def is_audio_path(path: str | os.PathLike) -> bool:
    """A file to be read as audio only: its content says so, or its suffix does for Ogg-like files."""
    p = Path(path)
    if not p.is_file():
        return p.suffix.lower() in AUDIO_SUFFIXES
    if sniff_audio(p):
        return True
    if p.suffix.lower() in AUDIO_SUFFIXES:
        has_video, has_audio = stream_kinds(p)
        return has_audio and not has_video
    return False


def _reason(exc: Exception) -> str:
    return (getattr(exc, "strerror", None) or str(exc) or type(exc).__name__).strip()
