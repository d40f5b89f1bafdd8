"""The record schema and the table writers.

Record (JSON, one per face; an image without a face gives one record with ``face: null``)::

    {"source": str, "face": int | null, "box": [x, y, w, h] | null, "score": float | null,
     "landmarks": [[x, y], ...], "expression": str | null, "probs": {label: p, ...},
     "valence": float | null, "arousal": float | null, "confidence": float | null,
     "uncertain": bool | null, "uncertain_reason": str | null, "compound": str | null}

``valence``/``arousal`` are in [-1, 1] (a projection of ``probs``, see
:mod:`affectlens.models.valence_arousal`); ``uncertain_reason`` joins the reasons with ``;``
and is empty when ``uncertain`` is false (see :mod:`affectlens.models.uncertainty`).

Faces table (DataFrame / CSV / Parquet), schema version ``SCHEMA_VERSION``, the same columns
for photos and video frames: one row per face with ``source, frame, time_ms, track, face,
box_x, box_y, box_w, box_h, score, expression, prob_<label>…, valence, arousal, confidence,
uncertain, uncertain_reason, compound, prob_raw_<label>…, valence_raw, arousal_raw, pose_yaw,
pose_pitch, pose_roll, au01 … au43, rationale, landmarks, annotated`` (landmarks as a JSON
string; ``annotated``: the picture or video the row's face is drawn into with ``--annotate``,
so two inputs with the same name map to their own ``x.png`` and ``x-2.png``).
``frame, time_ms, track`` and the ``*_raw`` columns (the frame's own answer before smoothing)
are empty for photos; rows for images or frames without a face hold only ``source`` (and the
frame's number and time).
Face-mesh fields (see :mod:`affectlens.models.action_units`), in records and tables alike:
``pose_yaw, pose_pitch, pose_roll`` (degrees), ``au01 … au43`` (intensities in [0, 1], one per
estimated action unit) and ``rationale`` (text); null / NaN / empty when the mesh is off or
could not fit the face, but always present. The 468 mesh points themselves are in the Python
API only (``FaceResult.mesh``).
Video records (see :mod:`affectlens.export.video`) add ``frame, time_ms, track``,
``probs_raw``, ``valence_raw`` and ``arousal_raw``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from numbers import Real
from pathlib import Path

from affectlens.models.action_units import AU_NAMES
from affectlens.types import FaceResult, ImageResult

SCHEMA_VERSION = "3"
AFFECT_FIELDS = ("valence", "arousal", "confidence", "uncertain", "uncertain_reason", "compound")
TABLE_SUFFIXES = (".csv", ".jsonl", ".parquet")


#: Column types of a :class:`Table` (pandas dtypes); untyped columns hold text (or anything).
INT, FLOAT, BOOL = "Int64", "float64", "boolean"


class Table:
    """A flattened table of one kind: ``columns`` in order, ``rows`` as dicts (a missing key is
    an empty cell), and the ``types`` of its typed columns (:data:`INT`, :data:`FLOAT`,
    :data:`BOOL`; the others hold text). :meth:`to_frame` makes the pandas DataFrame,
    :meth:`write_csv` writes the same CSV as that frame's ``to_csv(index=False)`` after
    :func:`spreadsheet_safe`, without importing pandas (its import alone is a quarter of a second,
    a large share of a short run's start-up)."""

    def __init__(self, columns: list[str], rows: list[dict], types: dict[str, str]):
        self.columns = list(columns)
        self.rows = rows
        self.types = {c: t for c, t in types.items() if c in self.columns}

    def to_frame(self):
        """The table as a pandas DataFrame with the column types (nullable Int64/boolean)."""
        import pandas as pd

        frame = pd.DataFrame(self.rows, columns=self.columns)
        for col, kind in self.types.items():
            frame[col] = frame[col].astype(kind)
        frame.attrs["affectlens_schema"] = SCHEMA_VERSION
        return frame

    def write_csv(self, path: str | Path) -> None:
        """Write the table as CSV (UTF-8, ``\\n`` line ends, minimal quoting, empty cells for
        missing values), formatted as pandas formats the frame: floats as Python's shortest
        ``repr`` (``120.0``, ``1e-05``), nullable integers and booleans as ``3`` and
        ``True``, and text cells that a spreadsheet would run as formulas behind a ``'``
        (:data:`FORMULA_START`)."""
        import csv

        cells = [_CELL.get(self.types.get(c), _text_cell) for c in self.columns]
        with open(path, "w", encoding="utf-8", newline="") as f:
            out = csv.writer(f, lineterminator="\n")
            out.writerow(self.columns)
            for row in self.rows:
                out.writerow([cell(row.get(c)) for c, cell in zip(self.columns, cells)])


def _missing(v) -> bool:
    """None or a NaN, also a numpy float's (a float32 NaN is not a ``float``), as pandas' isna."""
    return v is None or (isinstance(v, Real) and v != v)


def _float_cell(v) -> str:
    return "" if _missing(v) else repr(float(v))


def _int_cell(v) -> str:
    return "" if _missing(v) else str(int(v))


def _bool_cell(v) -> str:
    return "" if _missing(v) else str(bool(v))


def _text_cell(v) -> str:
    if _missing(v):
        return ""
    if isinstance(v, str):
        return "'" + v if v.startswith(FORMULA_START) else v
    return str(v)


_CELL = {FLOAT: _float_cell, INT: _int_cell, BOOL: _bool_cell}


def _r(v: float, nd: int = 2) -> float:
    return round(float(v), nd)


def au_column(name: str) -> str:
    """Table column of an action unit: ``AU1`` → ``au01``, ``AU43`` → ``au43``."""
    return f"au{int(name[2:]):02d}"


GEOMETRY_COLUMNS = ["pose_yaw", "pose_pitch", "pose_roll"] + [au_column(n) for n in AU_NAMES] + ["rationale"]


def _num(v: float, nd: int):
    """JSON-ready number: rounded, or None for NaN."""
    return None if v != v else round(float(v), nd)


def geometry_fields(fr: FaceResult | None) -> dict:
    """The face-mesh fields of one face record (all None for no face)."""
    if fr is None:
        return dict.fromkeys(GEOMETRY_COLUMNS)
    out = {"pose_yaw": _num(fr.pose.yaw, 1), "pose_pitch": _num(fr.pose.pitch, 1), "pose_roll": _num(fr.pose.roll, 1)}
    for n in AU_NAMES:
        out[au_column(n)] = _num(fr.aus.get(n), 3)
    out["rationale"] = fr.rationale
    return out


def image_records(result: ImageResult) -> list[dict]:
    """JSON-ready records for one image, one per face (one with ``face: None`` if none)."""
    if not result.faces:
        return [
            {
                "source": result.source,
                "face": None,
                "box": None,
                "score": None,
                "landmarks": [],
                "expression": None,
                "probs": {},
                **dict.fromkeys(AFFECT_FIELDS),
                **geometry_fields(None),
            }
        ]
    out = []
    for fr in result.faces:
        f = fr.face
        out.append(
            {
                "source": result.source,
                "face": fr.index,
                "box": [_r(v) for v in f.box],
                "score": _r(f.score, 4),
                "landmarks": [[_r(x), _r(y)] for x, y in f.landmarks],
                "expression": fr.expression.top,
                "probs": {k: round(v, 6) for k, v in fr.expression.as_dict().items()},
                **affect_fields(fr.affect),
                **geometry_fields(fr),
            }
        )
    return out


def affect_fields(a) -> dict:
    """The record fields of an :class:`~affectlens.types.Affect`."""
    return {
        "valence": round(a.valence, 4),
        "arousal": round(a.arousal, 4),
        "confidence": round(a.confidence, 4),
        "uncertain": bool(a.uncertain),
        "uncertain_reason": a.uncertain_reason,
        "compound": a.compound,
    }


def records_to_table(records: Iterable[dict]) -> Table:
    """Flatten face records (photos and video frames) into a :class:`Table`, one row per face,
    always with the same columns (schema in the module doc)."""
    rows, labels = [], []
    for rec in records:
        row = {
            "source": rec["source"],
            "frame": rec.get("frame"),
            "time_ms": rec.get("time_ms"),
            "track": rec.get("track"),
            "face": rec["face"],
        }
        for label, p in rec.get("probs_raw", {}).items():
            row[f"prob_raw_{label}"] = p
        box = rec["box"] or [None] * 4
        row.update(
            box_x=box[0], box_y=box[1], box_w=box[2], box_h=box[3], score=rec["score"], expression=rec["expression"]
        )
        for label, p in rec["probs"].items():
            if label not in labels:
                labels.append(label)
            row[f"prob_{label}"] = p
        for name in AFFECT_FIELDS:
            row[name] = rec.get(name)
        row.update(valence_raw=rec.get("valence_raw"), arousal_raw=rec.get("arousal_raw"))
        row.update({c: rec.get(c) for c in GEOMETRY_COLUMNS})
        row["landmarks"] = json.dumps(rec["landmarks"]) if rec["landmarks"] else None
        row["annotated"] = rec.get("annotated", "")
        rows.append(row)
    probs = [f"prob_{label}" for label in labels]
    raw = [f"prob_raw_{label}" for label in labels]
    columns = [
        "source",
        "frame",
        "time_ms",
        "track",
        "face",
        "box_x",
        "box_y",
        "box_w",
        "box_h",
        "score",
        "expression",
        *probs,
        *AFFECT_FIELDS,
        *raw,
        "valence_raw",
        "arousal_raw",
        *GEOMETRY_COLUMNS,
        "landmarks",
        "annotated",
    ]
    floats = [
        "time_ms",
        "box_x",
        "box_y",
        "box_w",
        "box_h",
        "score",
        *probs,
        "valence",
        "arousal",
        "confidence",
        *raw,
        "valence_raw",
        "arousal_raw",
        *GEOMETRY_COLUMNS[:-1],
    ]
    return Table(
        columns, rows, {"face": INT, "frame": INT, "track": INT, "uncertain": BOOL, **dict.fromkeys(floats, FLOAT)}
    )


def records_to_frame(records: Iterable[dict]):
    """Face records as a pandas DataFrame: :func:`records_to_table`'s table."""
    return records_to_table(records).to_frame()


def write_table(records: list[dict], path: str | Path, to_table=None) -> None:
    """Write records as ``.csv``, ``.jsonl`` or ``.parquet`` (by suffix).

    ``to_table`` flattens the records for CSV/Parquet (default :func:`records_to_table`, the face
    schema; text records use :func:`affectlens.export.text.text_records_to_table`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(f"{path}: unsupported table format {suffix or '(none)'}; valid: {', '.join(TABLE_SUFFIXES)}")
    if suffix == ".jsonl":
        text = "".join(json.dumps(utf8_safe(rec), allow_nan=False, default=str) + "\n" for rec in records)
        atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        return
    table = (to_table or records_to_table)([utf8_safe(r) for r in records])
    if suffix == ".csv":
        atomic_write(path, table.write_csv)
        return
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError("writing .parquet needs the [parquet] extra: pip install 'affectlens[parquet]'") from None
    frame = table.to_frame()
    atomic_write(path, lambda tmp: frame.to_parquet(tmp, index=False))


def atomic_write(path: Path, write) -> None:
    """``write(tmp)`` into a temporary file beside ``path``, then rename it over ``path``: a
    failed write (full disk, interrupt) never leaves a truncated table."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


#: A spreadsheet runs a cell starting with one of these as a formula (OWASP: CSV injection).
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(frame):
    """Text cells that a spreadsheet would run as formulas get a leading ``'`` (numbers stay)."""
    import pandas as pd

    frame = frame.copy()
    for col in frame.columns:
        if frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col]):
            frame[col] = frame[col].map(lambda v: "'" + v if isinstance(v, str) and v.startswith(FORMULA_START) else v)
    return frame


def utf8_safe(value):
    """``value`` (records, lists, strings) with undecodable bytes of file names (surrogates) as
    backslash escapes, so every table format can hold them."""
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
            return value
        except UnicodeEncodeError:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if isinstance(value, dict):
        return {k: utf8_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [utf8_safe(v) for v in value]
    return value
