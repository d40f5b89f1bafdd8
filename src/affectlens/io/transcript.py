"""Transcripts (``.srt``, ``.vtt``, ``.json``) → frozen :class:`Segment` records in milliseconds.

Formats:

* ``.srt`` (SubRip) read with ``srt``, ``.vtt`` (WebVTT) read with ``webvtt-py``; a WebVTT
  voice span ``<v Alice>…`` gives the segment's ``speaker``; markup tags (``<i>`` …) are removed;
  the lines of a cue are joined with a space. A cue that cannot be parsed is an error, not
  skipped.
* ``.json``, either a list of segment objects or Whisper-style ``{"segments": [...]}``. Each
  object needs ``text`` and its times as ``start_ms`` / ``end_ms`` (milliseconds) or ``start`` /
  ``end`` (seconds, as Whisper writes them); ``speaker`` is optional::

      [{"start_ms": 0, "end_ms": 1800, "text": "Hi!", "speaker": "A"}, ...]
      {"segments": [{"start": 0.0, "end": 1.8, "text": " Hi!"}, ...]}

A file that cannot be read, is empty, has no segments or holds a malformed segment raises
:class:`TranscriptError` whose one-line message names the file and the reason.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path

TRANSCRIPT_SUFFIXES = (".srt", ".vtt", ".json")
_TAG = re.compile(r"<[^>]*>")
_TIME = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{2})[.,](\d{1,3})$")


#: Largest time a segment may have (1000 hours, in ms), the most digits a JSON integer may have,
#: and the largest transcript file read (bigger files are refused before reading).
MAX_TIME_MS = 1000 * 3_600_000
MAX_DIGITS = 18
MAX_BYTES = 64 * 1024 * 1024


class TranscriptError(ValueError):
    """A transcript file is missing, empty or malformed (the message names file and reason)."""


@dataclass(frozen=True)
class Segment:
    """One transcript segment: ``[start_ms, end_ms)`` of the media, its text and speaker."""

    index: int
    start_ms: int
    end_ms: int
    text: str
    speaker: str | None = None

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


def _clock_ms(value: str) -> int:
    m = _TIME.match(value.strip())
    if not m:
        raise ValueError(f"bad timestamp {value!r}")
    h, mi, s, frac = m.groups()
    return ((int(h or 0) * 60 + int(mi)) * 60 + int(s)) * 1000 + int(frac.ljust(3, "0"))


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _join_lines(text: str) -> str:
    return " ".join(line.strip() for line in _TAG.sub("", text).splitlines() if line.strip())


#: Longest transcript line read (a subtitle line is a sentence or two; the text model scores at
#: most 20,000 characters anyway).
MAX_LINE_CHARS = 20_000
#: Runs of blanks other than line breaks (spaces, tabs, vertical tabs, form feeds …), which the
#: srt parser's patterns backtrack over: a long run took it minutes. They become one space.
_BLANKS = re.compile(r"[^\S\r\n]{2,}")
#: Runs of blank (or blank-looking) lines, which the srt parser also backtracks over (a fuzz run
#: found a million carriage returns, read as line breaks, taking it over 40 minutes). In srt one
#: blank line ends a block as well as many do: each run becomes one.
_BLANK_LINES = re.compile(r"\n(?:[^\S\n]*\n)+")


def _srt_text(path: Path) -> str:
    text = _BLANK_LINES.sub("\n\n", _BLANKS.sub(" ", _read_text(path)))
    for i, line in enumerate(text.split("\n"), start=1):
        if len(line) > MAX_LINE_CHARS:
            raise TranscriptError(f"{path}: line {i} has {len(line)} characters (at most {MAX_LINE_CHARS})")
    return text


def _srt(path: Path) -> list[Segment]:
    import srt

    try:
        subs = list(srt.parse(_srt_text(path)))
    except srt.SRTParseError as exc:
        bad = " / ".join(line.strip() for line in exc.unmatched_content.strip().splitlines())[:60]
        raise TranscriptError(
            f"{path}: malformed srt file (cannot parse {bad!r} at character {exc.expected_start})"
        ) from None
    return [
        _segment(
            path,
            i,
            int(sub.start.total_seconds() * 1000 + 0.5),
            int(sub.end.total_seconds() * 1000 + 0.5),
            _join_lines(sub.content),
            None,
        )
        for i, sub in enumerate(subs)
    ]


def _vtt(path: Path) -> list[Segment]:
    import webvtt
    from webvtt.errors import MalformedFileError

    text = _read_text(path)
    try:
        captions = webvtt.from_string(text)
    except MalformedFileError as exc:
        raise TranscriptError(f"{path}: malformed vtt file ({exc})") from None
    timings = sum(1 for line in text.splitlines() if "-->" in line)
    if timings != len(captions):  # webvtt-py skips cues it cannot parse: do not lose them silently
        raise TranscriptError(
            f"{path}: malformed vtt file ({timings - len(captions)} of {timings} cues have a bad timing line)"
        )
    out = []
    for cap in captions:
        try:
            start, end = _clock_ms(cap.start), _clock_ms(cap.end)
        except ValueError as exc:
            raise TranscriptError(f"{path}: cue {len(out) + 1}: {exc}") from None
        out.append(_segment(path, len(out), start, end, _join_lines(cap.text), cap.voice or None))
    return out


def _segment(path: Path, i: int, start: int, end: int, text, speaker) -> Segment:
    if not isinstance(text, str):
        raise TranscriptError(f"{path}: segment {i + 1}: 'text' must be a string, got {type(text).__name__}")
    if start < 0 or end < start:
        raise TranscriptError(
            f"{path}: segment {i + 1}: bad times start={start} ms end={end} ms (need 0 <= start <= end)"
        )
    return Segment(i, start, end, text.strip(), None if speaker in (None, "") else str(speaker))


def _time(path: Path, i: int, obj: dict, key: str) -> int:
    if f"{key}_ms" in obj:
        value, scale = obj[f"{key}_ms"], 1
    elif key in obj:
        value, scale = obj[key], 1000
    else:
        raise TranscriptError(f"{path}: segment {i + 1}: missing '{key}_ms' (milliseconds) or '{key}' (seconds)")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TranscriptError(f"{path}: segment {i + 1}: '{key}' must be a number, got {_short(value)}")
    if not math.isfinite(value) or not 0 <= value * scale <= MAX_TIME_MS:
        raise TranscriptError(
            f"{path}: segment {i + 1}: '{key}' = {_short(value)} is out of range (0 to "
            f"{MAX_TIME_MS // 3_600_000} hours)"
        )
    return int(round(value * scale))


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _json(path: Path) -> list[Segment]:
    def constant(name: str):
        raise TranscriptError(f"{path}: {name} is not a number JSON allows (times must be finite numbers)")

    def integer(digits: str) -> int:
        if len(digits.lstrip("-")) > MAX_DIGITS:
            raise TranscriptError(f"{path}: a number with {len(digits.lstrip('-'))} digits (at most {MAX_DIGITS})")
        return int(digits)

    try:
        data = json.loads(_read_text(path), parse_constant=constant, parse_int=integer)
    except json.JSONDecodeError as exc:
        raise TranscriptError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except RecursionError:
        raise TranscriptError(f"{path}: JSON nested too deeply (a transcript is a list of segment objects)") from None
    if isinstance(data, dict) and "segments" in data:
        data = data["segments"]
    if not isinstance(data, list):
        raise TranscriptError(
            f'{path}: expected a list of segments or {{"segments": [...]}}, got {type(data).__name__}'
        )
    out = []
    for i, obj in enumerate(data):
        if not isinstance(obj, dict):
            raise TranscriptError(f"{path}: segment {i + 1}: expected an object, got {type(obj).__name__}")
        if "text" not in obj:
            raise TranscriptError(f"{path}: segment {i + 1}: missing 'text'")
        out.append(
            _segment(path, i, _time(path, i, obj, "start"), _time(path, i, obj, "end"), obj["text"], obj.get("speaker"))
        )
    return out


def read_transcript(path) -> list[Segment]:
    """The segments of a ``.srt``, ``.vtt`` or ``.json`` transcript, in file order."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TRANSCRIPT_SUFFIXES:
        raise TranscriptError(
            f"{path}: unsupported transcript format {suffix or '(none)'}; valid: {', '.join(TRANSCRIPT_SUFFIXES)}"
        )
    if not path.is_file():
        raise TranscriptError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise TranscriptError(
            f"{path}: transcript of {path.stat().st_size / 2**20:.0f} MB is larger than the "
            f"{MAX_BYTES // 2**20} MB limit"
        )
    if not path.read_bytes().strip():
        raise TranscriptError(f"{path}: empty transcript (the file has no content)")
    try:
        segments = {".json": _json, ".srt": _srt, ".vtt": _vtt}[suffix](path)
    except TranscriptError:
        raise
    except (RecursionError, ValueError, OverflowError, TypeError, AttributeError, IndexError, KeyError) as exc:
        reason = " ".join(str(exc).split())[:200] or type(exc).__name__
        raise TranscriptError(f"{path}: malformed {suffix[1:]} file ({type(exc).__name__}: {reason})") from None
    if not segments:
        raise TranscriptError(f"{path}: empty transcript (no segments found)")
    return segments
