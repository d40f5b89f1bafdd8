"""Speech-segment records (voice, face, text and fused) and their table form.

Record (JSON, one per speech segment and face track)::

    {"source", "start_ms", "end_ms", "track": int | null, "status": "speech" | "no speech" | "no audio" | "whole input",
     "speech_prob": float | null, "modalities": ["face", "voice", ...], "fused_top": str | null,
     "fused": {canonical label: p} | null, "voice": {voice label: p} | null,
     "face": {face label: p} | null, "face_frames": int, "text": {canonical label: p} | null,
     "note": str}

A modality that gave no vote is ``null`` (not zeros). Table (DataFrame / CSV / Parquet): the
same fields with ``modalities`` joined by ``+`` and one column per probability:
``fused_<label>`` (canonical), ``voice_<label>`` (the voice model's labels, including
``voice_calm``), ``face_<label>``, ``text_<label>``; empty cells where a modality gave no vote.
"""

from __future__ import annotations

from collections.abc import Iterable

from affectlens.export.table import FLOAT, INT, Table
from affectlens.labels import CANONICAL
from affectlens.types import Expression, SegmentResult

PROB_GROUPS = ("fused", "voice", "face", "text")
HEAD = ["source", "start_ms", "end_ms", "track", "status", "speech_prob", "modalities", "fused_top"]


def _probs(e: Expression | None) -> dict | None:
    return None if e is None else {k: round(float(v), 6) for k, v in e.as_dict().items()}


def segment_records(results: Iterable[SegmentResult]) -> list[dict]:
    return [
        {
            "source": r.source,
            "start_ms": round(r.start_ms, 1),
            "end_ms": round(r.end_ms, 1),
            "track": r.track,
            "status": r.status,
            "speech_prob": None if r.speech_prob is None else round(r.speech_prob, 4),
            "modalities": list(r.modalities),
            "fused_top": None if r.fused is None else r.fused.top,
            "fused": _probs(r.fused),
            "voice": _probs(r.voice),
            "face": _probs(r.face),
            "face_frames": r.face_frames,
            "text": _probs(r.text),
            "note": r.note,
        }
        for r in results
    ]


def segments_to_table(records: Iterable[dict]) -> Table:
    """Flatten segment records into a :class:`~affectlens.export.table.Table` (schema in the
    module docstring)."""
    records = list(records)
    labels: dict[str, list[str]] = {g: (list(CANONICAL) if g in ("fused", "text") else []) for g in PROB_GROUPS}
    rows = []
    for rec in records:
        row = {k: rec[k] for k in HEAD}
        row["modalities"] = "+".join(rec["modalities"])
        for g in PROB_GROUPS:
            for label, p in (rec[g] or {}).items():
                if label not in labels[g]:
                    labels[g].append(label)
                row[f"{g}_{label}"] = p
        row["face_frames"] = rec["face_frames"]
        row["note"] = rec["note"]
        rows.append(row)
    prob_cols = [f"{g}_{label}" for g in PROB_GROUPS for label in labels[g]]
    floats = dict.fromkeys(["start_ms", "end_ms", "speech_prob"] + prob_cols, FLOAT)
    return Table(HEAD + prob_cols + ["face_frames", "note"], rows, {"track": INT, "face_frames": INT, **floats})


def segments_to_frame(records: Iterable[dict]):
    """Segment records as a pandas DataFrame: :func:`segments_to_table`'s table."""
    return segments_to_table(records).to_frame()
