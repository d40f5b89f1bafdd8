"""The text modality in fusion: transcript cues → one canonical distribution per speech segment.

Extension point. Fusion needs only a :data:`~affectlens.fusion.segments.TextSource`: a callable
``(start_ms, end_ms) -> {canonical label: p} | None``. :func:`cue_source` builds one from timed
transcript cues and any text classifier that maps a list of strings to ``(N, 8)`` canonical
probabilities plus one status per text (``"ok"``, or why there is no answer, e.g. ``"empty"``,
``"unsupported language"``). A segment's text distribution is the mean of the distributions of
the cues that overlap it, weighted by the overlap in milliseconds; cues without an ``ok`` status
and segments without words give no vote.

:func:`transcript_source` wires in the project's transcript reader and text emotion model
(:mod:`affectlens.io.transcript`, :mod:`affectlens.pipeline.text`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from affectlens.labels import CANONICAL


@dataclass(frozen=True)
class Cue:
    """One timed piece of transcript: ``[start_ms, end_ms)`` and its text."""

    start_ms: float
    end_ms: float
    text: str


#: ``texts -> (probs (N, 8) over CANONICAL, statuses)``
TextClassifier = Callable[[list[str]], "tuple[np.ndarray, Sequence[str]]"]


def cue_source(
    cues: Sequence[Cue], classify: TextClassifier | None = None, scored: Sequence[np.ndarray | None] | None = None
):
    """A TextSource over ``cues``; each cue is classified once, on first use, by ``classify``,
    unless ``scored`` already holds each cue's distribution (None where the model gave no answer)."""
    cues = list(cues)
    cache: dict[int, np.ndarray | None] = dict(enumerate(scored)) if scored is not None else {}

    def _probs(idx: list[int]) -> None:
        todo = [i for i in idx if i not in cache]
        if not todo:
            return
        probs, statuses = classify([cues[i].text for i in todo])
        probs = np.asarray(probs, dtype=np.float64).reshape(len(todo), len(CANONICAL))
        for i, p, st in zip(todo, probs, statuses):
            cache[i] = p if st == "ok" else None

    def source(start_ms: float, end_ms: float) -> dict[str, float] | None:
        overlap = [(i, min(end_ms, c.end_ms) - max(start_ms, c.start_ms)) for i, c in enumerate(cues)]
        overlap = [(i, w) for i, w in overlap if w > 0 and cues[i].text.strip()]
        if not overlap:
            return None
        _probs([i for i, _ in overlap])
        rows = [(cache[i], w) for i, w in overlap if cache[i] is not None]
        if not rows:
            return None
        p = sum(w * r for r, w in rows) / sum(w for _, w in rows)
        return dict(zip(CANONICAL, (float(v) for v in p)))

    return source


def transcript_source(path):
    """A TextSource for a transcript file (.srt, .vtt, .json) scored by the text emotion model.

    Every segment is scored up front with the previous segments as dialogue context
    (:func:`affectlens.pipeline.text.analyze_transcript`); segments the model does not answer
    (``empty``, ``unsupported language``) give no vote.
    """
    from affectlens.pipeline.text import analyze_transcript

    scored = analyze_transcript(path)
    cues = [Cue(float(s.segment.start_ms), float(s.segment.end_ms), s.segment.text) for s in scored]
    return cue_source(cues, scored=[np.asarray(s.result.probs) if s.result.ok else None for s in scored])
