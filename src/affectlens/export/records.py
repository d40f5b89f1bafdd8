"""Typed results → JSON-ready records, by table kind (``faces``, ``segments``, ``text``), and
:func:`to_dataframe` for any results of :func:`affectlens.run`."""

from __future__ import annotations

from affectlens.export.segments import segment_records, segments_to_table
from affectlens.export.table import image_records, records_to_table, utf8_safe
from affectlens.export.text import text_item_records, text_records_to_table
from affectlens.export.video import frame_records, summaries_to_table
from affectlens.types import FrameResult, ImageResult, InputFailure, SegmentResult, TextItemResult

#: The table kinds; ``tracks`` (one row per video face track) comes from the frames of a video
#: (:class:`~affectlens.export.video.TrackSummarizer`), not from one result.
TABLE_KINDS = ("faces", "segments", "text", "tracks")
#: Records of each kind → its :class:`~affectlens.export.table.Table` (the CSV writers) or
#: pandas DataFrame (Parquet, the batch engine, :func:`to_dataframe`).
_TO_TABLE = {
    "faces": records_to_table,
    "segments": segments_to_table,
    "text": text_records_to_table,
    "tracks": summaries_to_table,
}
_TO_FRAME = {
    kind: lambda records, to_table=to_table: to_table(records).to_frame() for kind, to_table in _TO_TABLE.items()
}


def records_of(result) -> tuple[str, list[dict]]:
    """``(table kind, JSON-ready records)`` of one result."""
    if isinstance(result, ImageResult):
        return "faces", image_records(result)
    if isinstance(result, FrameResult):
        return "faces", frame_records(result)
    if isinstance(result, SegmentResult):
        return "segments", segment_records([result])
    if isinstance(result, TextItemResult):
        return "text", text_item_records([result])
    raise TypeError(f"no records for {type(result).__name__}")


def to_dataframe(results, kind: str | None = None):
    """A pandas table of results: ``faces`` (photos and video frames, one row per face),
    ``segments`` or ``text``; ``kind`` None takes the kind of the first result. Results of other
    kinds (and :class:`~affectlens.types.InputFailure` records) are left out."""
    if isinstance(results, (ImageResult,)) or not hasattr(results, "__iter__"):
        results = [results]
    rows: list[dict] = []
    for r in results:
        if isinstance(r, InputFailure):
            continue
        k, recs = records_of(r)
        kind = kind or k
        if k == kind:
            rows += [utf8_safe(rec) for rec in recs]
    return _TO_FRAME[kind or "faces"](rows)
