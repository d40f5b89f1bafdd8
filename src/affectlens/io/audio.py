"""Decode audio files and the audio track of videos into 16 kHz mono float32 (PyAV).

Decoding is PyAV's (FFmpeg), so wav, flac, mp3, ogg/opus, m4a/aac and the sound of any
video container FFmpeg reads all work; inputs are recognised by content, not by name.
Samples are float32 in [-1, 1] at :data:`SAMPLE_RATE` Hz, one channel (channels are
averaged), starting at the first decoded sample (time 0 ms = start of the audio stream).

Failures raise :class:`AudioError` (an :class:`~affectlens.io.image.InputError`) with one line
naming the input and the reason: missing or empty file, not a media file FFmpeg can read, no
audio stream (e.g. a silent video), an impossible header (sample rate outside
:data:`MIN_SOURCE_RATE`-:data:`MAX_SOURCE_RATE`, more than :data:`MAX_CHANNELS` channels, more
than :data:`MAX_SECONDS` of audio), or audio that does not decode. Metadata tags that are not
UTF-8 are read leniently and never stop decoding.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.io.image import InputError, check_file
from affectlens.io.video import decode_reason, import_av, open_av

log = logging.getLogger("affectlens")

#: The rate every affectlens speech model and the voice activity detector work at.
SAMPLE_RATE = 16000
AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".mp3", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".wma", ".aif", ".aiff"})


#: Source sample rates outside this range are rejected as impossible headers (speech needs at least
#: 4 kHz sampling; professional audio goes up to 768 kHz).
MIN_SOURCE_RATE = 4000
MAX_SOURCE_RATE = 768_000
#: Most channels an audio stream may have (ambisonics and cinema formats stay far below).
MAX_CHANNELS = 64
#: Longest audio decoded (4 h = 920 MB of 16 kHz float32 samples): longer files are refused.
MAX_SECONDS = 4 * 3600


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
    import_av("audio")
    try:
        with open_av(os.fspath(path), extra="audio") as c:
            return bool(c.streams.video), bool(c.streams.audio)
    except Exception:  # any failure to open means "not a media file"; load_audio says why
        return False, False


def load_audio(path: str | os.PathLike, sample_rate: int = SAMPLE_RATE) -> Audio:
    """Decode the first audio stream of ``path`` (an audio file or a video) to mono float32.

    The stream's header is checked before anything is decoded (:func:`check_stream`); samples
    are resampled frame by frame into one float32 buffer sized from the stated duration, so the
    result takes 230 MB per hour of audio (4 bytes per sample at 16 kHz) and decoding adds no
    copy of it. A packet that does not decode is skipped (logged); any other decoding failure,
    FFmpeg's or a library's under it, is an :class:`AudioError` naming the file and the reason.
    """
    import_av("audio")
    name = os.fspath(path)
    check_file(name, "an audio or video file", AudioError)
    try:
        container = open_av(name, extra="audio")
    except Exception as exc:
        raise AudioError(f"{name}: not a readable audio or video file ({decode_reason(exc)})") from None
    with container:
        src_rate, src_channels, seconds = check_stream(name, container)
        buf = _Buffer(int(min(seconds or 60.0, MAX_SECONDS) * sample_rate))
        damaged: list[str] = []
        try:
            for out in _resampled(_frames(container, damaged), sample_rate):
                _check_length(name, buf.n / sample_rate)
                buf.append(out.to_ndarray().reshape(-1))
        except AudioError:
            raise
        except Exception as exc:
            if not buf.n:
                raise AudioError(f"{name}: audio does not decode ({decode_reason(exc)})") from None
            log.warning(
                "%s: audio stopped decoding at %.2f s (%s); analysing what decoded",
                name,
                buf.n / sample_rate,
                decode_reason(exc),
            )
    if damaged:
        log.warning("%s: skipped %d damaged audio packet(s) (%s)", name, len(damaged), damaged[0])
    samples = buf.result()
    np.clip(samples, -1.0, 1.0, out=samples)  # NaN stays NaN: the analysis says which segments hold it
    return Audio(
        source=name, samples=samples, sample_rate=sample_rate, source_rate=src_rate, source_channels=src_channels
    )


def check_stream(name: str, container) -> tuple[int, int, float | None]:
    """``(sample rate, channels, seconds or None)`` of the first audio stream, or an
    :class:`AudioError` for a header no real recording has (checked before decoding, so a
    header claiming 1 Hz cannot make the resampler allocate gigabytes)."""
    if not container.streams.audio:
        kinds = sorted({s.type for s in container.streams}) or ["no streams"]
        raise AudioError(f"{name}: no audio stream (has {', '.join(kinds)})")
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    if ctx is None:
        raise AudioError(f"{name}: no decoder for its audio stream (unsupported codec, or a corrupt format header)")
    rate = int(ctx.sample_rate or 0)
    channels = int(getattr(ctx, "channels", 0) or len(getattr(ctx.layout, "channels", ())) or 0)
    if not MIN_SOURCE_RATE <= rate <= MAX_SOURCE_RATE:
        raise AudioError(
            f"{name}: impossible audio header: sample rate {rate} Hz (valid: {MIN_SOURCE_RATE} to {MAX_SOURCE_RATE} Hz)"
        )
    if not 1 <= channels <= MAX_CHANNELS:
        raise AudioError(f"{name}: impossible audio header: {channels} channels (valid: 1 to {MAX_CHANNELS})")
    seconds = _stated_seconds(container, stream)
    if seconds is not None and seconds > MAX_SECONDS:
        raise AudioError(
            f"{name}: its header states {seconds / 3600:.1f} h of audio, more than the "
            f"{MAX_SECONDS / 3600:.0f} h limit (split longer recordings into shorter files)"
        )
    return rate, channels, seconds


def _stated_seconds(container, stream) -> float | None:
    if stream.duration is not None and stream.time_base:
        return float(stream.duration * stream.time_base)
    return container.duration / 1e6 if container.duration else None


def _check_length(name: str, done_s: float) -> None:
    if done_s > MAX_SECONDS:
        raise AudioError(
            f"{name}: audio longer than the {MAX_SECONDS / 3600:.0f} h limit (split it into shorter files)"
        )


#: Damaged packets in a row after which decoding stops (the rest of the file is not audio).
MAX_BAD_PACKETS = 50


def _frames(container, damaged: list[str]):
    """Decoded frames of the first audio stream; a packet that does not decode is skipped (its
    reason appended to ``damaged``) unless :data:`MAX_BAD_PACKETS` fail in a row."""
    av = import_av("audio")
    in_a_row = 0
    for packet in container.demux(container.streams.audio[0]):
        try:
            frames = packet.decode()
        except av.FFmpegError as exc:
            damaged.append(decode_reason(exc))
            in_a_row += 1
            if in_a_row >= MAX_BAD_PACKETS:
                raise
            continue
        in_a_row = 0
        yield from frames


def _resampled(frames, rate: int):
    """16 kHz mono float32 frames from decoded ``frames``; a new resampler is set up whenever the
    stream changes format, layout or rate part-way (a damaged or concatenated MP3 does)."""
    av = import_av("audio")
    resampler, key = None, None
    for frame in frames:
        fkey = (frame.format.name, frame.layout.name, frame.sample_rate)
        if not MIN_SOURCE_RATE <= (frame.sample_rate or 0) <= MAX_SOURCE_RATE:
            raise ValueError(f"a frame at {frame.sample_rate} Hz (corrupt data)")
        if fkey != key:
            if resampler is not None:
                yield from resampler.resample(None)
            resampler, key = av.AudioResampler(format="flt", layout="mono", rate=rate), fkey
        yield from resampler.resample(frame)
    if resampler is not None:
        yield from resampler.resample(None)


class _Buffer:
    """A float32 array filled chunk by chunk, grown by half when full (no list of chunks to join)."""

    def __init__(self, expected: int):
        self.data = np.empty(max(expected, 1 << 14), np.float32)
        self.n = 0

    def append(self, x: np.ndarray) -> None:
        if self.n + len(x) > len(self.data):
            grown = np.empty(max(self.n + len(x), len(self.data) * 3 // 2), np.float32)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : self.n + len(x)] = x
        self.n += len(x)

    def result(self) -> np.ndarray:
        """The filled part (a view: the unfilled tail was never written, so it takes no memory)."""
        return self.data[: self.n]


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
