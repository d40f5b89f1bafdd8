"""One fixed Parquet schema per table kind and options tree, so every part file of a dataset agrees.

The table writers (:data:`affectlens.export.writers._TO_FRAME`) name a probability column only
for labels that occur in the rows they are given: a photo without a face has no ``prob_*``
columns, an audio file no ``face_*`` ones. Readers of a Parquet folder take the schema of one
part file and drop the columns the others add, so each batch part is written with the full
schema of its kind: the columns a record of every label of the run's models gives, in the
writers' order and types (strings for text columns), plus the manifest's metadata columns.
"""

from __future__ import annotations

from affectlens.export.records import _TO_FRAME, TABLE_KINDS
from affectlens.labels import CANONICAL
from affectlens.options import Options


def model_labels(options: Options) -> dict[str, tuple[str, ...]]:
    """The labels of the run's face model and of every voice model the run may pick."""
    from affectlens.registry import get_model_cfg, list_models

    face = get_model_cfg(options.face.model).labels
    voices = [get_model_cfg(options.voice.model, kind="speech")] if options.voice.model else list_models("speech")
    voice = tuple(dict.fromkeys(label for cfg in voices for label in cfg.labels))
    return {"face": tuple(face), "voice": voice}


def _full_record(kind: str, labels: dict[str, tuple[str, ...]]) -> dict:
    """A record with every label of every probability group set (its values are never written)."""
    face = dict.fromkeys(labels["face"], 0.0)
    if kind == "faces":
        return {
            "source": "",
            "face": 0,
            "box": [0.0] * 4,
            "score": 0.0,
            "landmarks": [[0.0, 0.0]],
            "expression": "",
            "probs": face,
            "probs_raw": face,
        }
    if kind == "segments":
        canonical = dict.fromkeys(CANONICAL, 0.0)
        return {
            "source": "",
            "start_ms": 0.0,
            "end_ms": 0.0,
            "track": 0,
            "status": "",
            "speech_prob": 0.0,
            "modalities": [],
            "fused_top": "",
            "fused": canonical,
            "voice": dict.fromkeys(labels["voice"], 0.0),
            "face": face,
            "face_frames": 0,
            "text": canonical,
            "note": "",
        }
    if kind == "tracks":
        return {
            "source": "",
            "track": 0,
            "first_ms": 0.0,
            "last_ms": 0.0,
            "frames": 0,
            "dominant": "",
            "mean_probs": face,
            "segments": [],
        }
    return {
        "source": "",
        "index": 0,
        "start_ms": 0,
        "end_ms": 0,
        "speaker": "",
        "text": "",
        "status": "",
        "language": "",
        "emotion": "",
        "uncertain": False,
        "uncertain_reason": "",
        "probs": dict.fromkeys(CANONICAL, 0.0),
    }


def table_schemas(options: Options, metadata=None) -> dict:
    """``{kind: pyarrow.Schema}`` of the batch tables of ``options``; ``metadata`` (a pyarrow
    schema of the manifest's extra columns, or None) is appended to each."""
    import pyarrow as pa

    labels = model_labels(options)
    schemas = {}
    for kind in TABLE_KINDS:
        template = _TO_FRAME[kind]([_full_record(kind, labels)])
        fields = []
        for col, dtype in template.dtypes.items():
            typ = (
                pa.string()
                if str(dtype) == "object"
                else pa.Schema.from_pandas(template[[col]], preserve_index=False)[0].type
            )
            typ = pa.string() if pa.types.is_large_string(typ) else typ
            fields.append(pa.field(col, typ))
        for f in metadata or ():
            if f.name in template.columns:
                raise ValueError(f"manifest column {f.name!r} clashes with a {kind} table column; rename it")
            fields.append(f)
        schema = pa.schema(fields)
        # the pandas dtypes (Int64, boolean) travel in the schema's metadata, as in the writers' files
        template = template.reindex(columns=schema.names).iloc[:0]
        schemas[kind] = pa.Table.from_pandas(template, schema=schema, preserve_index=False).schema
    return schemas


def conform(frame, schema, metadata: dict | None = None):
    """``frame`` (from the table writers) as a pyarrow Table of ``schema``: missing probability
    columns empty, metadata columns filled with this input's values. A column the schema lacks
    is an error (it would be dropped by readers)."""
    import pyarrow as pa

    extra = [c for c in frame.columns if c not in schema.names]
    if extra:
        raise ValueError(f"columns {extra} are not in the batch table schema (a model with other labels?)")
    for name, value in (metadata or {}).items():
        frame[name] = value
    frame = frame.reindex(columns=schema.names)
    return pa.Table.from_pandas(frame, schema=schema, preserve_index=False)


__all__ = ["conform", "model_labels", "table_schemas"]
