"""The batch task: one input → one Parquet part file per table kind, written atomically.

A task is one ``Runner.run([path])`` call. Its results become records
(:func:`~affectlens.export.writers.records_of`), flattened by the table writers in chunks and
streamed into a hidden temporary file per kind (``DIR/<kind>/.part-<key>.parquet.<pid>.tmp``),
renamed to ``DIR/<kind>/part-<key>.parquet`` only when the input is finished: a reader never
sees half a part, a crash leaves only hidden temporary files, and a redone input replaces its
parts instead of adding rows. Parts of kinds the input no longer gives are removed.

An input that cannot be analysed (unreadable, deleted, wrong kind) gives a ``failed``
:class:`Outcome` with its one-line reason; an error writing the output (a full disk) is raised,
so the engine retries the input. Engines call :func:`run_task` with a :class:`~affectlens.jobs.Runner`
built once per worker.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from affectlens.export.records import _TO_FRAME, TABLE_KINDS, records_of
from affectlens.export.video import TrackSummarizer, summary_records
from affectlens.types import FrameResult, ImageResult, InputFailure

log = logging.getLogger("affectlens")

#: Records flattened and written per Parquet row group (bounds a worker's memory on long videos).
CHUNK_ROWS = 4096
PART_PREFIX = "part-"
STATES = ("done", "incomplete", "failed", "running")


@dataclass(frozen=True)
class Task:
    """One input: its path (as the tables' ``source`` will name it) and manifest metadata."""

    path: str
    metadata: tuple[tuple[str, object], ...] = ()

    @property
    def key(self) -> str:
        """The part files' name: stable for a path, whatever else the run holds."""
        return hashlib.blake2b(self.path.encode("utf-8"), digest_size=8).hexdigest()


@dataclass(frozen=True)
class Job:
    """What every task of one batch run shares: the output folder and the table schemas."""

    out: str
    schemas: dict = field(hash=False)


@dataclass(frozen=True)
class Outcome:
    """What a task did: ``state`` ``done`` (every result written), ``incomplete`` (results up to
    the input's own error, e.g. a truncated video, written; ``error`` says why) or ``failed``
    (nothing written; ``error`` says why)."""

    path: str
    state: str
    content_hash: str = ""
    rows: int = 0
    frames: int = 0  # analysed photos and video frames
    seconds: float = 0.0
    error: str = ""
    worker: int = 0  # process id


def content_hash(path: str, block: int = 1 << 20) -> str:
    """BLAKE2b of the file's bytes (raises OSError when it cannot be read)."""
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as fh:
        while chunk := fh.read(block):
            h.update(chunk)
    return h.hexdigest()


def part_path(out: str | Path, kind: str, key: str) -> Path:
    return Path(out) / kind / f"{PART_PREFIX}{key}.parquet"


class _Parts:
    """The temporary part files of one input, one per kind, opened on its first rows."""

    def __init__(self, job: Job, task: Task):
        self.job, self.task = job, task
        self.pending: dict[str, list[dict]] = {k: [] for k in TABLE_KINDS}
        self.writers: dict = {}
        self.rows = 0

    def add(self, kind: str, records: list[dict]) -> None:
        self.pending[kind] += records
        self.rows += len(records)
        if len(self.pending[kind]) >= CHUNK_ROWS:
            self._flush(kind)

    def _flush(self, kind: str) -> None:
        import pyarrow.parquet as pq

        from affectlens.batch.schema import conform

        records, self.pending[kind] = self.pending[kind], []
        if not records:
            return
        table = conform(_TO_FRAME[kind](records), self.job.schemas[kind], dict(self.task.metadata))
        if kind not in self.writers:
            tmp = self._tmp(kind)
            tmp.parent.mkdir(parents=True, exist_ok=True)
            self.writers[kind] = pq.ParquetWriter(tmp, self.job.schemas[kind])
        self.writers[kind].write_table(table)

    def _tmp(self, kind: str) -> Path:
        final = part_path(self.job.out, kind, self.task.key)
        return final.with_name(f".{final.name}.{os.getpid()}.tmp")

    def commit(self) -> None:
        """Close every part and rename it into place; remove parts of kinds without rows."""
        for kind in TABLE_KINDS:
            self._flush(kind)
        for kind in TABLE_KINDS:
            final = part_path(self.job.out, kind, self.task.key)
            if kind in self.writers:
                self.writers.pop(kind).close()
                os.replace(self._tmp(kind), final)
            else:
                final.unlink(missing_ok=True)

    def discard(self) -> None:
        for kind in list(self.writers):
            try:
                self.writers.pop(kind).close()
            except Exception:  # noqa: BLE001 - the file is removed anyway
                pass
            self._tmp(kind).unlink(missing_ok=True)


def remove_parts(out: str | Path, key: str) -> None:
    for kind in TABLE_KINDS:
        part_path(out, kind, key).unlink(missing_ok=True)


def run_task(runner, job: Job, task: Task) -> Outcome:
    """Analyse one input into its part files (see the module docstring)."""
    start = time.perf_counter()
    pid = os.getpid()
    try:
        digest = content_hash(task.path)
    except OSError as exc:
        remove_parts(job.out, task.key)
        reason = f"{task.path}: cannot read it: {exc.strerror or exc}"
        return Outcome(task.path, "failed", error=reason, seconds=time.perf_counter() - start, worker=pid)
    parts = _Parts(job, task)
    frames, failure = 0, None
    tracks = TrackSummarizer()  # one row per video face track: the tracks table
    try:
        for result in runner.run([task.path]):
            if isinstance(result, InputFailure):
                failure = result
                continue
            kind, records = records_of(result)
            frames += isinstance(result, (ImageResult, FrameResult))
            if isinstance(result, FrameResult):
                tracks.add(result)
            parts.add(kind, records)
        parts.add("tracks", summary_records(tracks.summaries()))
        if failure is not None and not failure.partial:
            parts.discard()
            remove_parts(job.out, task.key)
            return Outcome(
                task.path, "failed", digest, error=failure.reason, seconds=time.perf_counter() - start, worker=pid
            )
        parts.commit()
    except BaseException:
        parts.discard()
        raise
    state = "incomplete" if failure is not None else "done"
    return Outcome(
        task.path,
        state,
        digest,
        rows=parts.rows,
        frames=frames,
        seconds=time.perf_counter() - start,
        error=failure.reason if failure is not None else "",
        worker=pid,
    )


__all__ = ["Job", "Outcome", "STATES", "Task", "content_hash", "part_path", "remove_parts", "run_task"]
