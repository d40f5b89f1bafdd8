"""Decode videos and live streams into RGB frames with their true timestamps (PyAV).

Frames come from PyAV (FFmpeg) in a background thread, so decoding overlaps analysis. Every
frame carries ``time_ms``: its presentation time from the container, in milliseconds from the
start of the file, so variable frame rates and dropped frames keep true times.

Failures raise :class:`VideoError` (an :class:`~affectlens.io.image.InputError`) with one line
naming the input and the reason: missing file, not a video, no video stream, unknown codec, a
camera or stream that cannot be opened. A file that stops decoding part-way (truncated or
corrupt) is not an error: the frames that decode are delivered and :attr:`VideoReader.stopped`
says where and why it stopped.
"""

from __future__ import annotations

import os
import queue
import re
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.io.image import InputError, check_file
from affectlens.options import Sampling  # noqa: E402,F401  (the options tree owns it)

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".ts", ".wmv", ".flv"})
_URL = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*://")


class VideoError(InputError):
    """A video, camera or stream that cannot be read; the message names it and the reason."""


def import_av(extra: str = "video") -> object:
    """The ``av`` module (PyAV), or an ImportError saying how to install it."""
    try:
        import av
    except ImportError:
        raise ImportError(
            f"{extra} input needs PyAV (an affectlens dependency, missing here): pip install 'av>=14.0'"
        ) from None
    return av


def open_av(target, **kwargs):
    """``av.open(target, ...)`` reading container and stream metadata leniently: tags that are not
    UTF-8 (a Latin-1 title written by a Windows tool) are decoded with replacement characters
    instead of raising ``UnicodeDecodeError`` (the media itself is unaffected)."""
    av = import_av(kwargs.pop("extra", "video"))
    return av.open(target, metadata_errors="replace", **kwargs)


def decode_reason(exc: BaseException) -> str:
    """One line saying why PyAV/FFmpeg (or a library under it) failed: FFmpeg's own message, or
    the exception type with its message for errors that are not FFmpeg's (a bug it tripped)."""
    av = import_av()
    text = " ".join(str(getattr(exc, "strerror", None) or exc).split())
    if isinstance(exc, (av.FFmpegError, OSError)):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def sniff_video(path: str | os.PathLike) -> bool:
    """True when the file's first bytes are those of a common video container.

    Recognises ISO-BMFF (mp4, mov, m4v), Matroska/WebM, AVI, MPEG program and transport
    streams, FLV, ASF/WMV and Ogg; used to route inputs by content rather than by name.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except OSError:
        return False
    if len(head) < 12:
        return False
    return (
        head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip")
        or head[:4] == b"\x1a\x45\xdf\xa3"  # Matroska / WebM (EBML)
        or (head[:4] == b"RIFF" and head[8:12] in (b"AVI ", b"AVIX"))
        or head[:4] in (b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")  # MPEG-PS / MPEG-1 video
        or (head[0] == 0x47 and _is_ts(path))  # MPEG transport stream
        or head[:3] == b"FLV"
        or head[:4] == b"\x30\x26\xb2\x75"  # ASF / WMV
        or head[:4] == b"OggS"
    )


def _is_ts(path) -> bool:
    with open(path, "rb") as fh:
        data = fh.read(188 * 3 + 1)
    return len(data) > 188 * 2 and data[0] == data[188] == data[376] == 0x47


def is_video_path(path: str | os.PathLike) -> bool:
    """A file to be read as a video: its content says so, or its suffix does (content wins)."""
    p = Path(path)
    if not p.is_file():
        return p.suffix.lower() in VIDEO_SUFFIXES
    if sniff_video(p):
        return True
    return p.suffix.lower() in VIDEO_SUFFIXES and not _looks_like_image(p)


def _looks_like_image(p: Path) -> bool:
    with open(p, "rb") as fh:
        head = fh.read(12)
    return head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n" or head[:4] in (b"GIF8", b"RIFF")


@dataclass(frozen=True)
class VideoFrame:
    """One decoded frame: its number in the stream, presentation time (ms) and RGB pixels."""

    index: int
    time_ms: float
    rgb: np.ndarray  # (H, W, 3) uint8


def parse_source(source) -> tuple[str, str]:
    """``(kind, name)`` with kind ``camera`` (an integer index), ``url`` or ``file``."""
    if isinstance(source, int) or (isinstance(source, str) and source.isdigit()):
        return "camera", str(int(source))
    name = os.fspath(source)
    return ("url" if _URL.match(name) else "file"), name


def _open_container(kind: str, name: str):
    av = import_av()
    try:
        if kind == "camera":
            if sys.platform.startswith("linux"):
                return open_av(f"/dev/video{name}", format="v4l2")
            if sys.platform == "darwin":
                return open_av(name, format="avfoundation")
            return open_av(f"video={name}", format="dshow")
        if kind == "url":
            opts = {"rtsp_transport": "tcp"} if name.startswith("rtsp") else {}
            return open_av(name, options=opts, timeout=10.0)
        return open_av(name)
    except Exception as exc:  # FFmpeg's errors and any other failure to open: one line naming the input
        what = f"camera {name}" if kind == "camera" else name
        if kind == "file" and isinstance(exc, av.InvalidDataError):
            raise VideoError(
                f"{what}: not a readable video (unknown format, or a corrupt or truncated header)"
            ) from None
        raise VideoError(f"{what}: cannot open ({decode_reason(exc)})") from None


def display_rotation(frame) -> int:
    """The counter-clockwise rotation (0, 90, 180 or 270 degrees) that shows ``frame`` upright,
    from its display-matrix side data (a phone's "rotate" flag); 0 when it has none."""
    try:
        degrees = frame.rotation
    except Exception:  # no or malformed side data: show the frame as stored
        return 0
    return int(round((degrees or 0) / 90.0)) % 4 * 90


def upright(frame) -> np.ndarray:
    """The RGB pixels of a decoded frame, rotated as its display matrix says (see :func:`display_rotation`)."""
    rgb = frame.to_ndarray(format="rgb24")
    k = display_rotation(frame) // 90
    return np.ascontiguousarray(np.rot90(rgb, k)) if k else rgb


def _first_rotation(name: str) -> int:
    """The display rotation of a video file's first frame (0 when none decodes)."""
    try:
        with open_av(name) as c:
            for frame in c.decode(c.streams.video[0]):
                return display_rotation(frame)
    except Exception:
        return 0
    return 0


class VideoReader:
    """Frames of one video, camera or stream, decoded in a background thread.

    Iterate to get :class:`VideoFrame` objects in increasing ``time_ms``. ``live=True`` keeps
    only the newest frame when the consumer is slower than the source (and plays files at
    their real speed), as a camera would. Close it (or use ``with``) to stop the thread.
    """

    def __init__(self, source, sampling: Sampling | None = None, *, live: bool = False, queue_size: int = 8):
        self.kind, self.name = parse_source(source)
        self.sampling = sampling or Sampling()
        self.live = live
        if self.kind == "file":
            check_file(self.name, "a video", VideoError)
        self.container = _open_container(self.kind, self.name)
        try:
            self._check_streams()
        except Exception:
            self.container.close()
            raise
        self.stopped: str | None = None  # why decoding stopped early (or gave no frame), if it did
        self.decoded = 0
        self.delivered = 0
        self._corrupt = []  # times (s) of frames with damaged data
        self._queue: queue.Queue = queue.Queue(maxsize=1 if live else queue_size)
        self._halt = threading.Event()
        self._thread: threading.Thread | None = None

    # -- facts about the input ------------------------------------------------------------
    def _check_streams(self) -> None:
        c = self.container
        if not c.streams.video:
            kinds = sorted({s.type for s in c.streams}) or ["no streams"]
            raise VideoError(f"{self.name}: no video stream (has {', '.join(kinds)})")
        stream = c.streams.video[0]
        if stream.codec_context is None or stream.codec_context.name in (None, "", "none"):
            raise VideoError(f"{self.name}: unknown or unsupported video codec")
        stream.thread_type = "AUTO"
        self.stream = stream
        self.width = int(stream.codec_context.width)
        self.height = int(stream.codec_context.height)
        if self.width <= 0 or self.height <= 0:
            raise VideoError(f"{self.name}: video stream has no frame size (unknown or unsupported codec)")
        # frames are delivered upright (display matrix applied), so the size is the displayed one
        self.rotation = _first_rotation(self.name) if self.kind == "file" else 0
        if self.rotation in (90, 270):
            self.width, self.height = self.height, self.width
        self.fps = float(stream.average_rate) if stream.average_rate else None
        self.origin = c.start_time / 1e6 if c.start_time is not None else 0.0
        self._stream_start = (
            float(stream.start_time * stream.time_base) - self.origin
            if stream.start_time is not None and stream.time_base
            else 0.0
        )
        self.duration = (c.duration / 1e6) if c.duration else None
        self.has_audio = bool(c.streams.audio)

    @property
    def expected_frames(self) -> int | None:
        """Roughly how many frames the sampling will deliver (None for live sources)."""
        if self.live or not self.duration or not self.fps:
            return None
        s = self.sampling
        span = (min(s.end, self.duration) if s.end else self.duration) - s.start
        rate = min(s.fps, self.fps) if s.fps else self.fps / s.every
        return max(0, round(span * rate))

    # -- iteration ------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __iter__(self):
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="affectlens-decode", daemon=True)
            self._thread.start()
        while True:
            item = self._queue.get()
            if item is None:
                return
            yield item

    def close(self) -> None:
        self._halt.set()
        if self._thread is not None:
            while self._thread.is_alive():
                try:  # unblock a producer waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.05)
        self.container.close()

    def _put(self, item) -> None:
        if self.live and item is not None:
            try:  # drop a stale frame the consumer has not taken yet
                self._queue.get_nowait()
            except queue.Empty:
                pass
        while not self._halt.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        try:
            self._decode()
            if self.stopped is None and not self.delivered and self.kind == "file" and not self._halt.is_set():
                self.stopped = self._why_no_frames()
        except Exception as exc:  # decoding errors end the stream; the reason is kept
            self.stopped = f"stopped at {self._last_s:.2f} s after {self.decoded} frame(s): {decode_reason(exc)}"
        finally:
            self._put(None)

    def _why_no_frames(self) -> str:
        """Why a file delivered no frame at all: nothing decodes, or the start is past the end."""
        if not self.decoded:
            return "no frame decodes (an empty or unreadable video stream)"
        if self.sampling.start > 0 and self._last_s < self.sampling.start:
            return (
                f"no frame at or after the start time {self.sampling.start:.2f} s (the last frame is at "
                f"{self._last_s:.2f} s)"
            )
        return f"no frame in the sampled range ({self.decoded} frame(s) decoded)"

    _last_s = 0.0

    def _frames(self):
        """Decoded frames from (about) the start time: seek, and fall back to decoding from the
        beginning when the container lands past the start (imprecise seeking)."""
        av = import_av()
        start, stream = self.sampling.start, self.stream
        if start > 0 and self.kind == "file":
            try:
                self.container.seek(int((start + self.origin) / stream.time_base), stream=stream, backward=True)
                frames = self.container.decode(stream)
                first = next(frames, None)
                if first is None or first.time is None or first.time - self.origin <= start + 0.02:
                    self._seeked = True
                    yield from ([first] if first is not None else [])
                    yield from frames
                    return
                self.container.seek(0)  # landed too late: start over and skip
            except av.FFmpegError:
                self.container.seek(0)
        yield from self.container.decode(stream)

    _seeked = False
    _corrupt: list

    def _decode(self) -> None:
        s = self.sampling
        next_t, last_t, n, wall0 = s.start, -1.0, -1, None
        for frame in self._frames():
            if self._halt.is_set():
                return
            if frame.time is not None:
                t = frame.time - self.origin
            elif self.fps:  # no timestamps (raw elementary streams): count frames
                t = max(last_t, -1.0 / self.fps) + 1.0 / self.fps
            else:
                continue
            n += 1
            self.decoded += 1
            if t <= last_t:  # duplicate or out-of-order timestamp: keep times increasing
                continue
            last_t = t
            if frame.is_corrupt:  # damaged data: FFmpeg concealed errors; skip the frame
                self._corrupt.append(t)
                continue
            self._last_s = t
            if t < s.start - 1e-6:
                continue
            if s.end is not None and t >= s.end:
                return
            index = round((t - self._stream_start) * self.fps) if (self._seeked and self.fps) else n
            if s.fps is not None:
                if t < next_t - 1e-6:
                    continue
                next_t = max(next_t + 1.0 / s.fps, t + 0.5 / s.fps)
            elif index % s.every:
                continue
            if self.live and self.kind == "file":  # play a file at its real speed
                now = time.monotonic()
                wall0 = now - t if wall0 is None else wall0
                if wall0 + t > now:
                    time.sleep(wall0 + t - now)
            self._put(VideoFrame(index=index, time_ms=t * 1000.0, rgb=upright(frame)))
            self.delivered += 1
        self._check_complete()

    def _check_complete(self) -> None:
        """Flag a file with damaged frames or whose frames end well before its stated length."""
        if self.kind != "file":
            return
        if self._corrupt and self._corrupt[-1] >= self._last_s:
            self.stopped = f"stopped at {self._last_s:.2f} s after {self.decoded} frame(s): truncated or corrupt data"
            return
        if self._corrupt:
            self.stopped = (
                f"skipped {len(self._corrupt)} damaged frame(s) between {self._corrupt[0]:.2f} s "
                f"and {self._corrupt[-1]:.2f} s"
            )
            return
        if not self.duration or self.sampling.end is not None:
            return
        step = 1.0 / self.fps if self.fps else 0.1
        stream_end = self.duration
        if self.stream.duration and self.stream.time_base:
            stream_end = float(self.stream.duration * self.stream.time_base) + self._stream_start
        if self._last_s + 3 * step + 0.1 < stream_end:
            self.stopped = (
                f"stopped at {self._last_s:.2f} s of {stream_end:.2f} s after {self.decoded} frame(s): "
                "file truncated or corrupt"
            )


def walk_files(folder: Path) -> list[Path]:
    """Everything under ``folder`` that is not a folder (files, broken links, FIFOs …), sorted;
    unreadable subfolders are logged."""
    import logging

    def unreadable(exc: OSError) -> None:
        logging.getLogger("affectlens").error("error: %s: folder not scanned (%s)", exc.filename, exc.strerror or exc)

    return sorted(Path(root) / name for root, _, files in os.walk(folder, onerror=unreadable) for name in files)
