"""The inputs of a batch: files, folders (searched recursively), glob patterns, and manifests.

A manifest is a ``.csv`` or ``.parquet`` file with a ``path`` column (relative paths are taken
from the manifest's folder); its other columns are carried into every table row of that input
as metadata. Each input is analysed once: a path named twice is kept at its first place.
"""

from __future__ import annotations

import glob
import logging
import os
from pathlib import Path

from affectlens.batch.task import Task
from affectlens.io.image import InputError
from affectlens.jobs.probe import expand

log = logging.getLogger("affectlens")

MANIFEST_SUFFIXES = (".csv", ".parquet")
_GLOB_CHARS = set("*?[")


def is_manifest(name: str) -> bool:
    return Path(name).suffix.lower() in MANIFEST_SUFFIXES and Path(name).is_file()


def read_manifest(name: str):
    """The manifest as a DataFrame with ``path`` made usable from here (ValueError, one line)."""
    import pandas as pd

    try:
        frame = pd.read_csv(name) if name.lower().endswith(".csv") else pd.read_parquet(name)
    except Exception as exc:  # noqa: BLE001 - any reader error is one line naming the file
        raise ValueError(f"{name}: cannot read the manifest: {exc}") from None
    if "path" not in frame.columns:
        raise ValueError(f"{name}: a manifest needs a 'path' column; it has {', '.join(map(str, frame.columns))}")
    base = Path(name).parent
    frame["path"] = [p if os.path.isabs(p) else str(base / p) for p in frame["path"].astype(str)]
    return frame


def resolve(inputs: list[str]) -> tuple[list[Task], list[tuple[str, str]], object]:
    """``(tasks, errors, metadata schema)``: the tasks in order, ``(input, one-line reason)`` per
    input that names nothing, and the pyarrow schema of the manifests' metadata columns (None without manifest)."""
    tasks: list[Task] = []
    errors: list[tuple[str, str]] = []
    frames = []
    for name in inputs:
        if is_manifest(name):
            frame = read_manifest(name)
            frames.append(frame)
            meta = [c for c in frame.columns if c != "path"]
            for row in frame.itertuples(index=False):
                values = dict(zip(frame.columns, row))
                tasks.append(Task(values["path"], tuple((c, _plain(values[c])) for c in meta)))
            continue
        names = (
            sorted(glob.glob(name, recursive=True)) if _GLOB_CHARS & set(name) and not Path(name).exists() else [name]
        )
        if not names:
            errors.append((name, f"{name}: no file matches this pattern"))
        for item in expand(names):
            if isinstance(item, InputError):
                errors.append((str(item).split(": ", 1)[0], str(item)))
            else:
                tasks.append(Task(item))
    return _unique(tasks), errors, _metadata_schema(frames)


def _plain(value):
    """A manifest cell as a plain Python value (numpy scalars → int/float/str)."""
    return value.item() if hasattr(value, "item") else value


def _unique(tasks: list[Task]) -> list[Task]:
    seen: dict[str, Task] = {}
    for t in tasks:
        if t.path in seen:
            log.info("%s: named more than once; analysed once", t.path)
        else:
            seen[t.path] = t
    return list(seen.values())


def _metadata_schema(frames):
    if not frames:
        return None
    import pandas as pd
    import pyarrow as pa

    meta = pd.concat([f.drop(columns=["path"]) for f in frames], ignore_index=True)
    if meta.columns.empty:
        return None
    fields = []
    for f in pa.Schema.from_pandas(meta, preserve_index=False):
        fields.append(pa.field(f.name, pa.string()) if pa.types.is_large_string(f.type) else f)
    return pa.schema(fields)


__all__ = ["MANIFEST_SUFFIXES", "is_manifest", "read_manifest", "resolve"]
