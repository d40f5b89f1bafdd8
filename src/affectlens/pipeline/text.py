"""Text emotion for plain texts and for timed transcript segments (the convenience layer).

>>> from affectlens.pipeline.text import analyze_texts, analyze_transcript
>>> [r.label for r in analyze_texts(["I am so happy", "   "])]    # doctest: +SKIP
['happiness', None]
>>> for s in analyze_transcript("talk.srt"):                      # doctest: +SKIP
...     print(s.segment.start_ms, s.segment.end_ms, s.result.label)

A transcript segment is scored with the previous ``context`` segments as dialogue context,
as the model was trained on MELD dialogues (2 previous turns).
"""

from __future__ import annotations

from dataclasses import dataclass

from affectlens.eval.datasets.text import CONTEXT_SEP, MELD_CONTEXT
from affectlens.io.transcript import Segment, read_transcript
from affectlens.models.text import TextResult, load_text_model


@dataclass(frozen=True)
class TextSegmentResult:
    """One transcript segment (times in ms, text, speaker) and the text model's answer for it."""

    segment: Segment
    result: TextResult


def dialogue_contexts(texts, context: int = MELD_CONTEXT) -> list[str]:
    """For each text, the previous ``context`` texts joined as the model expects."""
    texts = list(texts)
    return [CONTEXT_SEP.join(t for t in texts[max(0, i - context) : i] if t.strip()) for i in range(len(texts))]


def analyze_texts(texts, contexts=None, model: str | None = None, check_language: bool = True) -> list[TextResult]:
    """One :class:`TextResult` per text with the default (or named) text model."""
    return load_text_model(model, check_language).predict(texts, contexts)


def analyze_segments(
    segments, model: str | None = None, check_language: bool = True, context: int = MELD_CONTEXT
) -> list[TextSegmentResult]:
    """Score transcript segments in order, each with the previous ``context`` segments as context."""
    segments = list(segments)
    texts = [s.text for s in segments]
    results = analyze_texts(texts, dialogue_contexts(texts, context), model, check_language)
    return [TextSegmentResult(s, r) for s, r in zip(segments, results)]


def analyze_transcript(
    path, model: str | None = None, check_language: bool = True, context: int = MELD_CONTEXT
) -> list[TextSegmentResult]:
    """Read a ``.srt``/``.vtt``/``.json`` transcript and score each segment (see module doc)."""
    return analyze_segments(read_transcript(path), model, check_language, context)


__all__ = [
    "Segment",
    "TextSegmentResult",
    "analyze_segments",
    "analyze_texts",
    "analyze_transcript",
    "dialogue_contexts",
]
