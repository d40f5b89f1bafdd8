"""Text results → records (JSON-ready dicts) → tables.

Record (JSON, one per text or transcript segment)::

    {"source": str, "index": int, "start_ms": int | null, "end_ms": int | null,
     "speaker": str | null, "text": str, "status": "ok" | "empty" | "unsupported language" | "too long",
     "language": str, "emotion": str | null, "uncertain": bool, "uncertain_reason": str,
     "probs": {label: p, ...}}

``probs`` is empty (and ``emotion`` null) unless ``status`` is ``ok``; ``start_ms``/``end_ms``
are set for transcript segments. Table columns (schema ``SCHEMA_VERSION``): ``source, index,
start_ms, end_ms, speaker, text, status, language, emotion, uncertain, uncertain_reason, prob_<label>…`` (the 8 canonical
labels).
"""

from __future__ import annotations

from collections.abc import Sequence

from affectlens.export.table import BOOL, FLOAT, INT, Table
from affectlens.labels import CANONICAL
from affectlens.models.text import TextResult
from affectlens.types import TextItemResult

COLUMNS = (
    "source",
    "index",
    "start_ms",
    "end_ms",
    "speaker",
    "text",
    "status",
    "language",
    "emotion",
    "uncertain",
    "uncertain_reason",
)


def text_item_records(items: Sequence[TextItemResult]) -> list[dict]:
    """One record per text result of :func:`affectlens.run` (schema in the module doc)."""
    return [
        {
            "source": it.source,
            "index": it.index,
            "start_ms": it.start_ms,
            "end_ms": it.end_ms,
            "speaker": it.speaker,
            "text": it.result.text,
            "status": it.result.status,
            "language": it.result.language,
            "emotion": it.result.label,
            "uncertain": bool(it.result.uncertain),
            "uncertain_reason": it.result.uncertain_reason,
            "probs": {k: round(v, 6) for k, v in it.result.as_dict().items()},
        }
        for it in items
    ]


def text_records(results: Sequence[TextResult], source: str = "", segments=None) -> list[dict]:
    """Records of bare :class:`TextResult` objects (``segments``, same length, add times and speakers)."""
    if segments is not None and len(segments) != len(results):
        raise ValueError(f"got {len(results)} results but {len(segments)} segments")
    return text_item_records(
        [
            TextItemResult(
                source, i, r, seg.start_ms if seg else None, seg.end_ms if seg else None, seg.speaker if seg else None
            )
            for i, (r, seg) in enumerate(zip(results, segments if segments is not None else [None] * len(results)))
        ]
    )


def text_records_to_table(records) -> Table:
    """Flatten text records into a :class:`~affectlens.export.table.Table` (columns in the module doc)."""
    rows = []
    for rec in records:
        row = {c: rec[c] for c in COLUMNS}
        for label in CANONICAL:
            row[f"prob_{label}"] = rec["probs"].get(label)
        rows.append(row)
    probs = [f"prob_{label}" for label in CANONICAL]
    types = {"index": INT, "start_ms": INT, "end_ms": INT, "uncertain": BOOL, **dict.fromkeys(probs, FLOAT)}
    return Table(list(COLUMNS) + probs, rows, types)


def text_records_to_frame(records):
    """Text records as a pandas DataFrame: :func:`text_records_to_table`'s table."""
    return text_records_to_table(records).to_frame()
