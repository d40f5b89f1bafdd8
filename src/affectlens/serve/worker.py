"""Worker threads: each takes the oldest queued job, runs it through the job layer and the
export writers, and records its progress; nothing here analyses anything itself.

A job's files: ``input/`` (what the client sent, under names made by the service), ``work/``
(outputs being written) renamed to ``out/`` when complete, then the job is marked ``done``.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from pathlib import Path

from affectlens.export.writers import Writers, table_paths
from affectlens.jobs.run import Progress, Runner, Typed
from affectlens.options import Options, OutputOptions
from affectlens.serve.inputs import NAMES
from affectlens.serve.store import Job, JobStore
from affectlens.types import InputFailure

log = logging.getLogger("affectlens")

RESULTS = "results.jsonl"
FORMATS = ("jsonl", "csv", "parquet")
PROGRESS_EVERY_S = 0.25


def job_inputs(job: Job, folder: Path) -> list:
    """The job layer's inputs of one job (files under ``input/``, in order)."""
    inputs = folder / "input"
    if job.kind in ("text", "transcript"):
        return [Typed(str(p), job.kind) for p in sorted(inputs.glob("main.*"))]
    if job.kind == "images":
        return [str(p) for p in sorted((inputs / "images").iterdir())]
    return [str(p) for p in sorted(inputs.glob("main.*"))]


def job_options(job: Job, folder: Path) -> Options:
    """The job's options tree; its transcript (uploaded with it) resolved inside its folder."""
    options = Options.from_dict(job.options)
    if options.text.transcript:
        options = options.replace(transcript=str(folder / "input" / Path(options.text.transcript).name))
    return options


def primary_table(job: Job) -> str:
    return "text" if job.kind in ("text", "transcript") else "faces"


class Workers:
    """``n`` threads running queued jobs; :meth:`cancel` asks a running job to stop."""

    def __init__(self, store: JobStore, n: int):
        self.store = store
        self.n = n
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._cancel: set[str] = set()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._loop, name=f"affectlens-job-{i}", daemon=True) for i in range(n)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def cancel(self, job_id: str) -> None:
        with self._lock:
            self._cancel.add(job_id)

    def cancelled(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._cancel

    def _loop(self) -> None:
        while not self._stop.is_set():
            job = self.store.claim()
            if job is None:
                self._wake.wait(1.0)
                self._wake.clear()
                continue
            try:
                self.execute(job)
            except Exception as exc:  # noqa: BLE001 - one job's crash must not stop the worker
                log.exception("job %s crashed", job.id)
                self.store.finish(job.id, "failed", error=f"internal error: {type(exc).__name__}: {exc}")
            finally:
                with self._lock:
                    self._cancel.discard(job.id)

    def execute(self, job: Job) -> None:
        folder = self.store.folder(job.id)
        work = folder / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        options = job_options(job, folder)
        video = job.kind in ("video", "av")
        outputs = OutputOptions(
            out=str(work / RESULTS),
            quiet=True,
            annotate=str(work / "annotated.mp4") if video and job.outputs.get("annotate") else None,
            timeline=str(work / "timeline.png") if video and job.outputs.get("timeline") else None,
            summary=str(work / "summary.csv") if video else None,
        )
        inputs = job_inputs(job, folder)
        meter = _Meter(self.store, job.id, len(inputs) if job.kind == "images" else 0)
        runner = Runner(options)
        writers = Writers(
            outputs, primary_table(job), start_ms=options.video.sampling.start * 1000.0, names=_sources(job, folder)
        )
        failures, results = [], 0
        stream = runner.run(inputs, pixels=bool(outputs.annotate), progress=meter)
        try:
            for result in stream:
                if self.cancelled(job.id):
                    break
                if isinstance(result, InputFailure):
                    failures.append(result.reason.replace(str(folder / "input") + "/", ""))
                else:
                    writers.add(result)
                    results += 1
                meter.result(result)
        finally:
            stream.close()
            writers.close()
        if self.cancelled(job.id):
            self.store.finish(job.id, "cancelled", error="cancelled by the client")
            return
        failures += [e.replace(str(work) + "/", "") for e in writers.errors]  # outputs that could not be written
        if not results:
            self.store.finish(job.id, "failed", error="; ".join(failures) or "no results")
            return
        _write_tables(writers, work, primary_table(job), _sources(job, folder))
        out = folder / "out"
        shutil.rmtree(out, ignore_errors=True)
        work.rename(out)
        meter.flush(final=True)
        files = sorted(p.name for p in out.iterdir())
        self.store.finish(
            job.id, "done", error=("some inputs failed: " + "; ".join(failures)) if failures else None, files=files
        )
        log.info("job %s done: %d result(s), %d failure(s)", job.id, results, len(failures))


def _sources(job: Job, folder: Path) -> dict[str, str]:
    """Input path on disk → the name the client gave it (what the records show as ``source``)."""
    inputs = folder / "input"
    if job.kind == "images":
        names = json.loads((inputs / NAMES).read_text(encoding="utf-8"))
        return {str(inputs / "images" / k): v for k, v in names.items()}
    return {str(p): job.name for p in inputs.glob("main.*")}


def _write_tables(writers: Writers, work: Path, primary: str, sources: dict[str, str]) -> None:
    """The writers' tables as JSONL, CSV and Parquet (same rows, same names), each record's
    ``source`` the client's name of its input rather than the service's file."""
    from affectlens.export.records import _TO_TABLE
    from affectlens.export.table import write_table

    for rows in writers.rows.values():
        for rec in rows:
            rec["source"] = sources.get(rec.get("source"), rec.get("source"))
    summary = work / "summary.csv"
    if summary.exists():
        # written again by the same writer as the CLI's --summary, with the client's names (a
        # pandas round trip would read cells such as "NA" or "null" as missing)
        from dataclasses import replace

        from affectlens.export.video import write_summary

        write_summary([replace(s, source=sources.get(s.source, s.source)) for s in writers.summaries], summary)
    for fmt in FORMATS:
        for kind, path in table_paths(work / f"results.{fmt}", primary).items():
            if writers.rows[kind]:
                try:
                    write_table(writers.rows[kind], path, to_table=_TO_TABLE[kind])
                except ImportError as exc:  # parquet without pyarrow
                    log.warning("no %s results: %s", fmt, exc)


class _Meter:
    """Progress of one job into the store, at most every :data:`PROGRESS_EVERY_S` seconds."""

    def __init__(self, store: JobStore, job_id: str, images: int):
        self.store, self.job_id, self.images = store, job_id, images
        self.done, self.total, self.unit = 0, images, "image" if images else "frame"
        self.last = 0.0

    def __call__(self, p: Progress) -> None:
        self.done, self.total, self.unit = p.done, p.total, p.unit
        self.flush()

    def result(self, result) -> None:
        if self.images:
            self.done += 1
            self.flush()

    def flush(self, final: bool = False) -> None:
        now = time.monotonic()
        if final or now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            total = max(self.total, self.done, 1 if final else 0)
            self.store.progress(self.job_id, total if final else self.done, total, self.unit)
