"""Video results → records, per-track summaries and their writers.

Frame record (one per face per analysed frame; a frame without a face gives one record with
``face``, ``track`` and the face fields empty)::

    {"source", "frame": int, "time_ms": float, "track": int | null, "face", "box", "score",
     "landmarks", "expression", "probs": {label: p} (smoothed), the affect fields of
     :mod:`affectlens.export.table` (from the smoothed probabilities), "probs_raw": {label: p},
     "valence_raw", "arousal_raw" (from the raw probabilities)}

Summary record (one per track): ``source, track, first_ms, last_ms, frames, dominant,
mean_probs {label: p}, segments [{expression, start_ms, end_ms}, ...]``; in CSV the mean
probabilities become ``mean_<label>`` columns and segments a JSON string.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from affectlens.export.table import FLOAT, INT, Table, image_records
from affectlens.models.valence_arousal import valence_arousal
from affectlens.types import ExpressionSpan, FrameResult, ImageResult, TrackSummary

SUMMARY_SUFFIXES = (".csv", ".json")


def frame_records(result: FrameResult) -> list[dict]:
    """JSON-ready records for one frame, one per face (one with empty face fields if none)."""
    as_image = ImageResult(source=result.source, width=result.width, height=result.height, faces=result.faces)
    out = []
    for rec, tf in zip(image_records(as_image), result.faces or (None,)):
        head = {
            "source": rec.pop("source"),
            "frame": result.frame,
            "time_ms": round(result.time_ms, 3),
            "track": None if tf is None else tf.track,
        }
        head.update(rec)
        head["probs_raw"] = {} if tf is None else {k: round(v, 6) for k, v in tf.raw.as_dict().items()}
        if tf is None:
            head["valence_raw"] = head["arousal_raw"] = None
        else:
            v, a = valence_arousal(tf.raw.probs, tf.raw.labels)
            head["valence_raw"], head["arousal_raw"] = round(float(v), 4), round(float(a), 4)
        out.append(head)
    return out


class TrackSummarizer:
    """Accumulates frame results into one :class:`TrackSummary` per track (memory per track)."""

    def __init__(self):
        self._tracks: dict[int, dict] = {}
        self._source = ""

    def add(self, result: FrameResult) -> None:
        self._source = result.source
        for tf in result.faces:
            st = self._tracks.get(tf.track)
            p = np.asarray(tf.expression.probs, dtype=np.float64)
            top = tf.expression.top
            if st is None:
                self._tracks[tf.track] = {
                    "labels": tf.expression.labels,
                    "first": result.time_ms,
                    "last": result.time_ms,
                    "n": 1,
                    "sum": p.copy(),
                    "segments": [[top, result.time_ms, result.time_ms]],
                }
                continue
            st["last"] = result.time_ms
            st["n"] += 1
            st["sum"] += p
            seg = st["segments"][-1]
            if seg[0] == top:
                seg[2] = result.time_ms
            else:
                st["segments"].append([top, result.time_ms, result.time_ms])

    def summaries(self) -> list[TrackSummary]:
        out = []
        for tid in sorted(self._tracks):
            st = self._tracks[tid]
            mean = st["sum"] / st["n"]
            segs = tuple(ExpressionSpan(e, s, t) for e, s, t in st["segments"])
            out.append(
                TrackSummary(
                    source=self._source,
                    track=tid,
                    first_ms=st["first"],
                    last_ms=st["last"],
                    frames=st["n"],
                    mean_probs=tuple((label, float(v)) for label, v in zip(st["labels"], mean)),
                    dominant=st["labels"][int(np.argmax(mean))],
                    segments=segs,
                )
            )
        return out


def summarize_tracks(results: Iterable[FrameResult]) -> list[TrackSummary]:
    """One summary per track over a sequence of frame results."""
    acc = TrackSummarizer()
    for r in results:
        acc.add(r)
    return acc.summaries()


def summary_records(summaries: Iterable[TrackSummary]) -> list[dict]:
    return [
        {
            "source": s.source,
            "track": s.track,
            "first_ms": round(s.first_ms, 3),
            "last_ms": round(s.last_ms, 3),
            "frames": s.frames,
            "dominant": s.dominant,
            "mean_probs": {k: round(v, 6) for k, v in s.mean_probs},
            "segments": [
                {"expression": g.expression, "start_ms": round(g.start_ms, 3), "end_ms": round(g.end_ms, 3)}
                for g in s.segments
            ],
        }
        for s in summaries
    ]


def write_summary(summaries: Iterable[TrackSummary], path: str | Path) -> None:
    """Write one row per track as ``.csv`` or ``.json`` (a list of summary records)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUMMARY_SUFFIXES:
        raise ValueError(
            f"{path}: unsupported summary format {suffix or '(none)'}; valid: {', '.join(SUMMARY_SUFFIXES)}"
        )
    from affectlens.export.table import atomic_write, utf8_safe

    records = utf8_safe(summary_records(summaries))
    if suffix == ".json":
        text = json.dumps(records, indent=1) + "\n"
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return
    atomic_write(path, summaries_to_table(records).write_csv)


def summaries_to_table(records: Iterable[dict]) -> Table:
    """Track summary records as a :class:`~affectlens.export.table.Table`: ``source, track,
    first_ms, last_ms, frames, dominant, mean_<label>…, segments`` (segments as a JSON string);
    the ``tracks`` table kind."""
    rows, labels = [], []
    for r in records:
        row = {k: r[k] for k in ("source", "track", "first_ms", "last_ms", "frames", "dominant")}
        for k, v in r["mean_probs"].items():
            labels += [k] if k not in labels else []
            row[f"mean_{k}"] = v
        row["segments"] = json.dumps(r["segments"])
        rows.append(row)
    columns = ["source", "track", "first_ms", "last_ms", "frames", "dominant"]
    means = [f"mean_{k}" for k in labels]
    types = {"track": INT, "frames": INT, **dict.fromkeys(["first_ms", "last_ms"] + means, FLOAT)}
    return Table(columns + means + ["segments"], rows, types)


def summaries_to_frame(records: Iterable[dict]):
    """Track summary records as a pandas DataFrame: :func:`summaries_to_table`'s table."""
    return summaries_to_table(records).to_frame()
