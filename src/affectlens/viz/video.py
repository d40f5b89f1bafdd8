"""Annotated video: analysed frames with boxes, track ids and labels, plus the source's audio.

Frames keep their true timestamps (the output has a variable frame rate when the input has
one or when frames are sampled). When the source has an audio stream it is copied (or, if the
output container cannot hold that codec, re-encoded to AAC/Opus) over the same time range.
"""

from __future__ import annotations

import heapq
import logging
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

from affectlens.io.video import import_av, open_av
from affectlens.types import FrameResult
from affectlens.viz.annotate import annotate, check_detail, layout
from affectlens.viz.layout import Placement, anchor

log = logging.getLogger("affectlens")

VIDEO_OUT_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")
_CODECS = {".webm": ("libvpx-vp9", "libvpx"), ".avi": ("mpeg4",)}
_AUDIO = {".webm": ("libopus", "flt", 48000), ".avi": ("mp3", "s16p", None)}
_AAC = ("aac", "fltp", None)


def _pick_codec(av, suffix: str) -> str:
    for name in _CODECS.get(suffix, ("libx264", "h264", "mpeg4")):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:  # noqa: BLE001 - codec missing from this FFmpeg build
            continue
    raise ValueError(f"no video encoder available for {suffix} output")


class SteadyLabels:
    """Label placement for consecutive frames of one video: each track's label stays where it was
    relative to its face while that place is free (see :func:`affectlens.viz.layout.place_labels`),
    instead of jumping between sides as neighbours move. ``reset()`` before another video."""

    def __init__(self, detail: str = "compact"):
        self.detail = check_detail(detail)
        self._where: dict[int, tuple[str, float, float]] = {}

    def place(self, result: FrameResult) -> list[Placement]:
        """The labels' rectangles for this frame (one per face, in ``result.faces`` order)."""
        prefer = [self._where.get(fr.track) for fr in result.faces]
        placements = layout(result, self.detail, prefer=prefer)
        self._where = {fr.track: anchor(p.rect, fr.face.box) for fr, p in zip(result.faces, placements)}
        return placements

    def reset(self) -> None:
        self._where.clear()


class AnnotatedVideoWriter:
    """Write annotated frames to ``path`` (.mp4, .mov, .mkv, .webm or .avi).

    ``audio_from``: a video file whose first audio stream is copied for the written time
    range; ``offset_ms``: the source time written as time 0; ``detail``: the labels'
    ``compact`` or ``full`` text (see :mod:`affectlens.viz.annotate`).
    """

    def __init__(
        self, path: str | os.PathLike, audio_from: str | None = None, offset_ms: float = 0.0, detail: str = "compact"
    ):
        self.labels = SteadyLabels(detail)
        self.path = Path(path)
        suffix = self.path.suffix.lower()
        if suffix not in VIDEO_OUT_SUFFIXES:
            raise ValueError(
                f"--annotate {path}: unsupported video format {suffix or '(none)'}; "
                f"valid: {', '.join(VIDEO_OUT_SUFFIXES)}"
            )
        self.av = import_av()
        self.suffix = suffix
        self.audio_from = audio_from
        self.offset_ms = offset_ms
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(self.path.stem + ".video-only" + suffix) if audio_from else self.path
        self._out = None
        self._stream = None
        self._last_pts = -1
        self._first_ms: float | None = None
        self._last_ms = 0.0

    def _open(self, width: int, height: int) -> None:
        self._out = self.av.open(str(self._tmp), "w")
        codec = _pick_codec(self.av, self.suffix)
        s = self._out.add_stream(codec, rate=30)
        s.width, s.height = width - width % 2, height - height % 2
        s.pix_fmt = "yuv420p"
        s.time_base = Fraction(1, 1000)
        s.codec_context.time_base = Fraction(1, 1000)
        if codec == "libx264":
            s.options = {"preset": "veryfast", "crf": "23"}
        self._stream = s

    def write(self, rgb: np.ndarray, result: FrameResult) -> None:
        """Draw ``result`` onto ``rgb`` (the frame it came from) and append it."""
        if self._out is None:
            self._open(rgb.shape[1], rgb.shape[0])
        pts = int(round(result.time_ms - self.offset_ms))
        if pts <= self._last_pts:
            return
        self._last_pts = pts
        self._first_ms = result.time_ms if self._first_ms is None else self._first_ms
        self._last_ms = result.time_ms
        placements = self.labels.place(result)
        img = np.asarray(annotate(rgb, result, self.labels.detail, placements))[
            : self._stream.height, : self._stream.width
        ]
        frame = self.av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
        frame.pts = pts
        frame.time_base = Fraction(1, 1000)
        for packet in self._stream.encode(frame):
            self._out.mux(packet)

    def close(self) -> None:
        """Finish the file (flush the encoder, add the audio)."""
        if self._out is None:
            return
        for packet in self._stream.encode(None):
            self._out.mux(packet)
        self._out.close()
        self._out = None
        if self.audio_from:
            try:
                self._add_audio()
            finally:
                if self._tmp.exists() and self._tmp != self.path:
                    self._tmp.unlink()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # -- audio ----------------------------------------------------------------------------
    def _add_audio(self) -> None:
        av = self.av
        src = open_av(self.audio_from)
        try:
            if not src.streams.audio:
                os.replace(self._tmp, self.path)
                return
            try:
                self._mux(src, copy=True)
            except (av.FFmpegError, ValueError) as exc:
                log.debug("audio copy failed (%s); re-encoding", exc)
                src.seek(0)
                self._mux(src, copy=False)
        finally:
            src.close()

    def _mux(self, src, copy: bool) -> None:
        av = self.av
        origin = src.start_time / 1e6 if src.start_time is not None else 0.0
        lo = self.offset_ms / 1000.0
        hi = self._last_ms / 1000.0 + 0.1
        video = open_av(str(self._tmp))
        out = av.open(str(self.path), "w")
        try:
            vin, ain = video.streams.video[0], src.streams.audio[0]
            vout = out.add_stream_from_template(vin)
            if copy:
                aout = out.add_stream_from_template(ain)
            else:
                name, fmt, rate = _AUDIO.get(self.suffix, _AAC)
                rate = rate or ain.codec_context.sample_rate or 44100
                aout = out.add_stream(name, rate=rate)
                aout.codec_context.layout = "stereo"
                aout.codec_context.format = fmt
                resampler = av.AudioResampler(format=fmt, layout="stereo", rate=rate)
            shift = int(round((lo + origin) / ain.time_base))

            def video_packets():
                for p in video.demux(vin):
                    ts = p.dts if p.dts is not None else p.pts
                    if ts is not None and p.size:
                        yield float(ts * vin.time_base), 0, p

            def audio_packets():
                for p in src.demux(ain):
                    if p.pts is None or not p.size:
                        continue
                    t = float(p.pts * ain.time_base) - origin
                    if t < lo or t > hi:
                        continue
                    if copy:
                        p.pts -= shift
                        p.dts = p.pts if p.dts is None else p.dts - shift
                        yield t - lo, 1, p
                    else:
                        for f in p.decode():
                            for g in resampler.resample(f):
                                g.pts = None
                                for q in aout.encode(g):
                                    yield t - lo, 1, q

            for _, kind, p in heapq.merge(video_packets(), audio_packets(), key=lambda x: (x[0], x[1])):
                p.stream = vout if kind == 0 else aout
                out.mux(p)
            if not copy:
                for q in aout.encode(None):
                    out.mux(q)
        except Exception:
            out.close()
            video.close()
            self.path.unlink(missing_ok=True)
            raise
        out.close()
        video.close()
