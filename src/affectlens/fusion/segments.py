"""Align modalities in time: per speech segment and per face track, one :class:`SegmentResult`.

- Face: the mean of a track's per-frame (unsmoothed) probabilities over the analysed frames
  whose time falls in ``[start_ms, end_ms)`` of the segment; a track with fewer than
  ``min_face_frames`` frames there gives no vote. Every track seen in the segment gets its
  own record; a segment in which no face was seen gives one record with ``track`` None.
- Voice: the voice model's answer for the segment (canonical space: ``calm`` → ``neutral``).
- Text: a :data:`TextSource` callable, given the segment's times, returns a distribution over
  canonical labels or None (no words in the segment: no vote).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from affectlens.fusion.config import FusionOptions
from affectlens.fusion.rule import Vote, fuse
from affectlens.labels import CANONICAL, canonical_label
from affectlens.models.speech import RAVDESS_TO_CANONICAL
from affectlens.types import Expression, FrameResult, SegmentResult, VoiceSegment

#: ``(start_ms, end_ms) -> {canonical label: p}`` or None; the extension point for the text modality.
TextSource = Callable[[float, float], "dict[str, float] | None"]


@dataclass(frozen=True)
class FaceSeries:
    """One face track's per-frame probabilities: ``times`` (n,) ms, ``probs`` (n, len(labels))."""

    track: int
    labels: tuple[str, ...]
    times: np.ndarray
    probs: np.ndarray


class FaceSeriesBuilder:
    """Collects the raw probabilities of each track as frame results stream past (a few floats
    per face per frame), for fusion once the video is done."""

    def __init__(self):
        self._acc: dict[int, tuple[tuple[str, ...], list[float], list[tuple[float, ...]]]] = {}

    def add(self, frame: FrameResult) -> None:
        for tf in frame.faces:
            labels, times, probs = self._acc.setdefault(tf.track, (tf.raw.labels, [], []))
            times.append(frame.time_ms)
            probs.append(tf.raw.probs)

    def series(self) -> list[FaceSeries]:
        return [
            FaceSeries(t, labels, np.asarray(times, np.float64), np.asarray(probs, np.float64).reshape(len(times), -1))
            for t, (labels, times, probs) in sorted(self._acc.items())
        ]


def face_series(frames: Iterable[FrameResult]) -> list[FaceSeries]:
    """Group the faces of video frame results by track (raw, unsmoothed probabilities)."""
    builder = FaceSeriesBuilder()
    for fr in frames:
        builder.add(fr)
    return builder.series()


def _canonical(
    labels: tuple[str, ...], probs, mapping: dict[str, str] | None = None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """(8 probabilities over CANONICAL, the canonical labels the source can express)."""
    vec = np.zeros(len(CANONICAL))
    support = set()
    for name, p in zip(labels, probs):
        c = mapping[name] if mapping else canonical_label(name)
        vec[CANONICAL.index(c)] += p
        support.add(c)
    return vec, tuple(c for c in CANONICAL if c in support)


def face_in_window(series: FaceSeries, start_ms: float, end_ms: float) -> tuple[np.ndarray | None, int]:
    """Mean probabilities of the track's frames in ``[start_ms, end_ms)`` and their number."""
    m = (series.times >= start_ms) & (series.times < end_ms)
    n = int(m.sum())
    return (series.probs[m].mean(axis=0) if n else None), n


def fuse_segment(
    source: str,
    start_ms: float,
    end_ms: float,
    status: str,
    *,
    voice: VoiceSegment | None,
    faces: list[FaceSeries],
    text: TextSource | None,
    weights: dict[str, float],
    options: FusionOptions,
    note: str = "",
) -> list[SegmentResult]:
    """The records of one segment: one per face track seen in it (or one with ``track`` None)."""
    votes_common: dict[str, Vote | None] = {"voice": None, "text": None}
    voice_expr = None
    if voice is not None and "voice" in weights:
        voice_expr = voice.voice
        vec, support = _canonical(voice.voice.labels, voice.voice.probs, RAVDESS_TO_CANONICAL)
        votes_common["voice"] = Vote(tuple(vec), weights["voice"], support)
    text_expr = None
    if text is not None and "text" in weights:
        tp = text(start_ms, end_ms)
        if tp:
            vec, support = _canonical(tuple(tp), tuple(tp.values()))
            votes_common["text"] = Vote(tuple(vec), weights["text"], support)
            text_expr = Expression(CANONICAL, tuple(float(v) for v in vec))
    per_track = []
    if "face" in weights:
        for s in faces:
            mean, n = face_in_window(s, start_ms, end_ms)
            if mean is not None and n >= options.min_face_frames:
                per_track.append((s, mean, n))
    out = []
    for s, mean, n in per_track or [(None, None, 0)]:
        votes = dict(votes_common)
        face_expr = None
        if s is not None:
            vec, support = _canonical(s.labels, mean)
            votes["face"] = Vote(tuple(vec), weights["face"], support)
            face_expr = Expression(s.labels, tuple(float(v) for v in mean))
        f = fuse(votes)
        out.append(
            SegmentResult(
                source=source,
                start_ms=float(start_ms),
                end_ms=float(end_ms),
                track=None if s is None else s.track,
                status=status,
                speech_prob=None if voice is None else voice.speech_prob,
                voice=voice_expr,
                face=face_expr,
                face_frames=n,
                text=text_expr,
                fused=Expression(CANONICAL, f.probs) if f.probs else None,
                modalities=f.modalities,
                note=note,
            )
        )
    return out
