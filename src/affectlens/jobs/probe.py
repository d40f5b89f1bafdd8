"""What an input is, said once: :func:`probe` (one file) and :func:`expand` (files and folders).

Kinds: ``image``, ``video`` (frames, no sound), ``av`` (frames and sound), ``audio`` (sound
only, also an audio-only video container), ``text`` (a UTF-8 file, one text per line) and
``transcript`` (``.srt``, ``.vtt``; a ``.json`` transcript is named as such by the caller).
A bad input is rejected here, before any model loads, with the one-line reason users see.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from affectlens.io.image import IMAGE_SUFFIXES, InputError, check_file

KINDS = ("image", "video", "av", "audio", "text", "transcript")
TEXT_SUFFIXES = frozenset({".txt"})
TRANSCRIPT_SUFFIXES = frozenset({".srt", ".vtt"})


@dataclass(frozen=True)
class MediaInfo:
    """One input: ``kind`` (see :data:`KINDS`), its streams, duration and size.

    ``width``/``height`` are the image's or video's pixels (0 when none); ``duration_ms`` and
    ``frames`` are the container's claims for audio and video (0 when unknown; the frame count
    of a damaged file may be wrong); ``size`` is the file size in bytes.
    """

    path: str
    kind: str
    has_video: bool = False
    has_audio: bool = False
    width: int = 0
    height: int = 0
    duration_ms: float = 0.0
    frames: int = 0
    fps: float = 0.0
    size: int = 0

    @property
    def modalities(self) -> tuple[str, ...]:
        """The modalities this input itself has (text comes from a transcript option for media)."""
        if self.kind in ("text", "transcript"):
            return ("text",)
        return tuple(m for m, has in (("face", self.has_video), ("voice", self.has_audio)) if has)


def probe(path: str | os.PathLike, kind: str | None = None) -> MediaInfo:
    """Say what ``path`` is; raise :class:`~affectlens.io.image.InputError` (one line naming it)
    if it is missing, empty, a folder or unreadable. ``kind`` forces ``text`` or ``transcript``."""
    name = os.fspath(path)
    p = check_file(name, "an input file")
    size = p.stat().st_size
    suffix = p.suffix.lower()
    if kind in ("text", "transcript") or (kind is None and suffix in TEXT_SUFFIXES | TRANSCRIPT_SUFFIXES):
        return MediaInfo(name, kind or ("text" if suffix in TEXT_SUFFIXES else "transcript"), size=size)
    if kind is not None and kind not in KINDS:
        raise ValueError(f"unknown input kind {kind!r}; valid: {', '.join(KINDS)}")
    from affectlens.io.audio import is_audio_path
    from affectlens.io.video import is_video_path

    audio = is_audio_path(p)  # sniffs the file (and may open it): once per input
    if audio or is_video_path(p):
        return _probe_media(name, size, audio)
    return _probe_image(name, size)


def _probe_image(name: str, size: int) -> MediaInfo:
    from PIL import Image

    try:
        with Image.open(name) as img:
            w, h = img.size
    except Exception:  # noqa: BLE001 - the full decoder gives the one-line reason
        from affectlens.io.image import load_image

        load_image(name)  # raises InputError naming the file and why
        raise InputError(f"{name}: not a readable image") from None
    return MediaInfo(name, "image", has_video=True, width=int(w), height=int(h), frames=1, size=size)


def _probe_media(name: str, size: int, audio: bool) -> MediaInfo:
    from affectlens.io.audio import AudioError, load_audio, stream_kinds
    from affectlens.io.video import VideoError, VideoReader

    if audio:
        has_video, has_audio = stream_kinds(name)
        if not has_video and not has_audio:
            load_audio(name)  # raises the one-line reason (not a media file, corrupt)
            raise AudioError(f"{name}: no audio or video stream")
        if not has_video:
            return MediaInfo(name, "audio", has_audio=True, size=size, **_audio_facts(name))
    try:
        reader = VideoReader(name)  # opens the container and checks the video stream
    except VideoError as exc:
        if "no video stream" in str(exc) and stream_kinds(name)[1]:  # sound in a video container
            return MediaInfo(name, "audio", has_audio=True, size=size, **_audio_facts(name))
        raise
    try:
        has_audio = bool(reader.has_audio)
        facts = dict(
            width=reader.width,
            height=reader.height,
            duration_ms=float(reader.duration or 0) * 1000.0,
            frames=int(reader.expected_frames or 0),
            fps=float(reader.fps or 0.0),
        )
    finally:
        reader.close()
    return MediaInfo(name, "av" if has_audio else "video", has_video=True, has_audio=has_audio, size=size, **facts)


def _audio_facts(name: str) -> dict:
    from affectlens.io.video import import_av

    av = import_av("audio")
    try:
        with av.open(name) as c:
            return {"duration_ms": float(c.duration or 0) / 1000.0}
    except Exception:  # noqa: BLE001 - a duration is a nicety; decoding reports real errors
        return {}


def expand(inputs: Iterable[str | os.PathLike]) -> Iterator[str | InputError]:
    """Files in order: each file as given, each folder's media files (recursively, sorted, by
    suffix; broken links, link loops and special files too, so :func:`probe` says what is wrong
    with them; an unreadable subfolder is logged). A missing input becomes an
    :class:`InputError` in the stream, not an exception."""
    from affectlens.io.audio import AUDIO_SUFFIXES
    from affectlens.io.video import VIDEO_SUFFIXES, walk_files

    wanted = IMAGE_SUFFIXES | VIDEO_SUFFIXES | AUDIO_SUFFIXES
    for raw in inputs:
        name = os.fspath(raw)
        p = Path(name)
        if p.is_dir():
            for f in walk_files(p):
                if f.suffix.lower() in wanted:
                    yield str(f)
        elif p.exists() or p.is_symlink():
            yield name
        else:
            yield InputError(f"{name}: no such file or folder")
