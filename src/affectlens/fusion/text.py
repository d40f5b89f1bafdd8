"""The text modality in fusion: transcript cues → one canonical distribution per speech segment.

Extension point. Fusion needs only a :data:`~affectlens.fusion.segments.TextSource`: a callable
``(start_ms, end_ms) -> {canonical label: p} | None``. :func:`cue_source` builds one from timed
transcript cues and any text classifier that maps a list of strings to ``(N, 8)`` canonical
probabilities plus one status per text (``"ok"``, or why there is no answer, e.g. ``"empty"``,
``"unsupported language"``). A segment's text distribution is the mean of the distributions of
the cues that overlap it, weighted by the overlap in milliseconds; cues without an ``ok`` status
and segments without words give no vote.

:func:`transcript_source` wires in the project's transcript reader and text emotion model
(``affectlens.io.transcript`` and ``affectlens.models.text``, the text part of issue 6); until
they are installed it raises an ImportError saying so.
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


def cue_source(cues: Sequence[Cue], classify: TextClassifier):
    """A TextSource over ``cues``; each cue is classified once, on first use."""
    cues = list(cues)
    cache: dict[int, np.ndarray | None] = {}

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
    """A TextSource for a transcript file (.srt, .vtt, .json) classified by the text model."""
    try:
        from affectlens.io.transcript import read_transcript  # the text part of issue 6
        from affectlens.models.text import classify_texts
    except ImportError:
        raise ImportError(f"{path}: transcripts need the text emotion model (affectlens.models.text) and "
                          "transcript reader (affectlens.io.transcript), which this installation does not have") from None
    cues = [Cue(float(c.start_ms), float(c.end_ms), c.text) for c in read_transcript(path)]
    return cue_source(cues, classify_texts)
