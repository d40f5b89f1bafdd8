"""The batch driver: inputs → tasks on an engine → part files, manifest rows and a report.

:func:`run_batch` resolves the inputs, skips those the manifest says are done with the same
bytes and options, hands the rest to the engine (at most one per worker in flight, so the
driver holds outcomes, never results), retries a task that raised or whose worker died up to
``retries`` times, records every outcome as it comes, and on Ctrl-C stops the workers keeping
every finished input. Output folder layout::

    DIR/faces/part-<key>.parquet     one part per input and table kind (see batch.task)
    DIR/segments/  DIR/text/
    DIR/runs.sqlite  DIR/runs.parquet  the manifest (see batch.manifest)
    DIR/options.toml                 the options every result in DIR was made with
    DIR/report.json                  the last run's report
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from affectlens.batch.engines import ENGINES, import_ray, make_engine
from affectlens.batch.inputs import resolve
from affectlens.batch.manifest import Manifest, options_hash
from affectlens.batch.schema import table_schemas
from affectlens.batch.task import Job, Outcome, Task
from affectlens.export.records import TABLE_KINDS
from affectlens.options import Options

log = logging.getLogger("affectlens")

Event = dict
ProgressFn = Callable[[Event], None]


@dataclass
class Report:
    """What one batch run did. ``skipped``: inputs already done before it; ``not_run``: inputs
    left when it was interrupted; ``failures``: ``(input, reason)`` of failed and incomplete ones."""

    out: str
    engine: str
    workers: int
    total: int = 0
    skipped: int = 0
    done: int = 0
    incomplete: int = 0
    failed: int = 0
    not_run: int = 0
    retries: int = 0
    worker_restarts: int = 0
    rows: int = 0
    frames: int = 0
    seconds: float = 0.0
    interrupted: bool = False
    failures: list = field(default_factory=list)

    @property
    def analysed(self) -> int:
        return self.done + self.incomplete + self.failed

    def to_dict(self) -> dict:
        d = asdict(self)
        secs = max(self.seconds, 1e-9)
        d.update(
            inputs_per_s=round(self.analysed / secs, 3),
            frames_per_s=round(self.frames / secs, 2),
            seconds=round(self.seconds, 2),
        )
        return d


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_batch(
    inputs: list[str],
    out: str | Path,
    options: Options | None = None,
    *,
    engine: str = "local",
    workers: int | None = None,
    retries: int = 2,
    ray_address: str | None = None,
    progress: ProgressFn | None = None,
) -> Report:
    """Analyse ``inputs`` into the Parquet datasets under ``out`` (see the module docstring)."""
    options = options or Options()
    workers = workers or default_workers()
    if workers < 1 or retries < 0:
        raise ValueError(f"--workers must be >= 1 (got {workers}) and --retries >= 0 (got {retries})")
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; valid: {', '.join(ENGINES)}")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        raise ImportError("batch writes Parquet: pip install 'affectlens[parquet]'") from None
    if engine == "ray":
        import_ray()  # the missing extra is said before any work
    start = time.perf_counter()
    tasks, errors, metadata = resolve(inputs)
    if not tasks and not errors:
        raise ValueError(f"no inputs found in {' '.join(inputs)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    options_dict = options.to_dict()
    report = Report(str(out), engine, workers, total=len(tasks) + len(errors))
    with _lock(out):
        manifest = Manifest(out, options_hash(options_dict))
        _save_options(options, out)
        _remove_temporary(out)
        for name, reason in errors:
            _record(manifest, report, Task(name), Outcome(name, "failed", error=reason), 0)
        todo = [t for t in tasks if not manifest.is_done(t.path)]
        report.skipped = len(tasks) - len(todo)
        emit = progress or (lambda event: None)
        emit(
            {
                "event": "start",
                "total": report.total,
                "skipped": report.skipped,
                "to_do": len(todo),
                "engine": engine,
                "workers": workers,
                "out": str(out),
            }
        )
        if todo:
            job = Job(str(out), table_schemas(options, metadata))
            _run(
                todo,
                make_engine(engine, workers, options_dict, job, ray_address),
                manifest,
                report,
                retries,
                emit,
                start,
            )
        report.seconds = time.perf_counter() - start
        manifest.export()
        manifest.close()
        _write_json(out / "report.json", report.to_dict())
        emit({"event": "report", **report.to_dict()})
    return report


def _run(todo: list[Task], engine, manifest: Manifest, report: Report, retries: int, emit, start: float) -> None:
    queue, inflight, attempts = deque(todo), {}, {}
    try:
        while queue or inflight:
            while queue and len(inflight) < engine.capacity:
                task = queue.popleft()
                manifest.start(task)
                inflight[engine.submit(task)] = task
            for handle, result in engine.wait(list(inflight)):
                task = inflight.pop(handle)
                attempts[task.path] = attempts.get(task.path, 0) + 1
                if isinstance(result, BaseException):
                    if attempts[task.path] <= retries:
                        log.warning(
                            "%s: attempt %d failed (%s); retrying", task.path, attempts[task.path], _reason(result)
                        )
                        report.retries += 1
                        queue.appendleft(task)
                        continue
                    result = Outcome(
                        task.path,
                        "failed",
                        error=f"{task.path}: {_reason(result)} (after {attempts[task.path]} attempts)",
                    )
                _record(manifest, report, task, result, attempts[task.path])
                emit(_progress_event(report, report.total - report.skipped, result, start))
    except KeyboardInterrupt:
        report.interrupted = True
        report.not_run = len(queue) + len(inflight)
        log.error(
            "interrupted: %d input(s) finished are kept; %d not finished (the same command resumes)",
            report.analysed,
            report.not_run,
        )
    finally:
        report.worker_restarts = engine.restarts
        engine.close(interrupted=report.interrupted)


def _record(manifest: Manifest, report: Report, task: Task, outcome: Outcome, attempts: int) -> None:
    manifest.finish(task, outcome, attempts)
    setattr(report, outcome.state, getattr(report, outcome.state) + 1)
    report.rows += outcome.rows
    report.frames += outcome.frames
    if outcome.error:
        report.failures.append((task.path, outcome.error))
        log.error("error: %s", outcome.error)


def _progress_event(report: Report, todo: int, outcome: Outcome, start: float) -> Event:
    elapsed = time.perf_counter() - start
    n = report.analysed
    eta = elapsed / n * (todo - n) if n else None
    return {
        "event": "input",
        "input": outcome.path,
        "state": outcome.state,
        "rows": outcome.rows,
        "seconds": round(outcome.seconds, 3),
        "worker": outcome.worker,
        "done": n,
        "total": todo,
        "failed": report.failed,
        "frames_per_s": round(report.frames / max(elapsed, 1e-9), 2),
        "eta_s": None if eta is None else round(eta, 1),
    }


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


class _lock:
    """One batch run per output folder at a time (an advisory lock on ``DIR/.lock``)."""

    def __init__(self, out: Path):
        self.path = out / ".lock"

    def __enter__(self):
        self.fh = open(self.path, "w")
        try:
            fcntl.flock(self.fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.fh.close()
            raise ValueError(f"--out {self.path.parent}: another batch run is writing there") from None
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fh, fcntl.LOCK_UN)
        self.fh.close()


def _save_options(options: Options, out: Path) -> None:
    path = out / "options.toml"
    if not path.exists():
        tmp = out / ".options.toml.tmp"
        options.save(tmp)
        os.replace(tmp, path)


def _remove_temporary(out: Path) -> None:
    """Temporary part files of a run that was killed (never read: their names start with a dot)."""
    for kind in TABLE_KINDS:
        for tmp in (out / kind).glob(".part-*.tmp"):
            tmp.unlink(missing_ok=True)


def _write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, path)


__all__ = ["Report", "default_workers", "run_batch"]
