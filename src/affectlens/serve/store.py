"""Jobs in an embedded SQLite database (stdlib ``sqlite3``), their files under ``data_dir/jobs/<id>/``.

States: ``queued`` → ``running`` → ``done`` | ``failed`` | ``cancelled``. A job becomes ``done``
only after its result files are closed, in one committed write, so a server killed at any
moment leaves each job either finished with all its files or not finished. At start-up
:meth:`JobStore.recover` marks jobs left ``running`` by a killed server ``failed`` with the
reason (they are not re-run: a partial run's files are discarded); ``queued`` jobs stay queued.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

STATES = ("queued", "running", "done", "failed", "cancelled")
FINAL = ("done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT UNIQUE NOT NULL,
    state TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    options TEXT NOT NULL,
    outputs TEXT NOT NULL,
    created REAL NOT NULL,
    started REAL,
    finished REAL,
    done INTEGER NOT NULL DEFAULT 0,
    total INTEGER NOT NULL DEFAULT 0,
    unit TEXT NOT NULL DEFAULT 'frame',
    error TEXT,
    files TEXT NOT NULL DEFAULT '[]'
)
"""


@dataclass(frozen=True)
class Job:
    """One row of the jobs table. ``name`` is the client's file name, shown, never used as a path."""

    id: str
    state: str
    kind: str
    name: str
    options: dict
    outputs: dict
    created: float
    started: float | None = None
    finished: float | None = None
    done: int = 0
    total: int = 0
    unit: str = "frame"
    error: str | None = None
    files: tuple[str, ...] = field(default_factory=tuple)

    @property
    def rate(self) -> float:
        """Units per second since the job started (0 before)."""
        if not self.started or not self.done:
            return 0.0
        return self.done / max((self.finished or time.time()) - self.started, 1e-6)

    @property
    def eta_s(self) -> float | None:
        if self.state != "running" or not self.total or not self.rate:
            return None
        return max(self.total - self.done, 0) / self.rate


class JobStore:
    """The jobs table and the job folders; safe to call from any thread."""

    def __init__(self, data_dir: Path):
        self.root = Path(data_dir)
        self.jobs_dir = self.root / "jobs"
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.root / "jobs.sqlite3", check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def folder(self, job_id: str) -> Path:
        return self.jobs_dir / job_id

    # -- writes -----------------------------------------------------------------------------------
    def new_id(self) -> str:
        job_id = uuid.uuid4().hex
        self.folder(job_id).mkdir(parents=True)
        return job_id

    def add(self, job_id: str, kind: str, name: str, options: dict, outputs: dict) -> Job:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, state, kind, name, options, outputs, created) "
                "VALUES (?, 'queued', ?, ?, ?, ?, ?)",
                (job_id, kind, name, json.dumps(options), json.dumps(outputs), time.time()),
            )
        return self.get(job_id)

    def claim(self) -> Job | None:
        """The oldest queued job, now ``running`` (None when the queue is empty)."""
        with self._lock:
            row = self._db.execute("SELECT id FROM jobs WHERE state='queued' ORDER BY seq LIMIT 1").fetchone()
            if row is None:
                return None
            self._db.execute(
                "UPDATE jobs SET state='running', started=? WHERE id=? AND state='queued'", (time.time(), row["id"])
            )
        return self.get(row["id"])

    def progress(self, job_id: str, done: int, total: int, unit: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET done=?, total=?, unit=? WHERE id=? AND state='running'", (done, total, unit, job_id)
            )

    def finish(self, job_id: str, state: str, error: str | None = None, files: list[str] | None = None) -> None:
        if state not in FINAL:
            raise ValueError(f"not a final job state: {state!r}; valid: {', '.join(FINAL)}")
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET state=?, finished=?, error=?, files=? WHERE id=?",
                (state, time.time(), error, json.dumps(files or []), job_id),
            )

    def delete(self, job_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM jobs WHERE id=?", (job_id,))
        shutil.rmtree(self.folder(job_id), ignore_errors=True)

    def recover(self) -> list[str]:
        """After a restart: jobs left ``running`` are ``failed`` (their partial files removed);
        folders without a row (a crash between creating and recording a job) are removed."""
        with self._lock:
            ids = [r["id"] for r in self._db.execute("SELECT id FROM jobs WHERE state='running'")]
            self._db.execute(
                "UPDATE jobs SET state='failed', finished=?, error=? WHERE state='running'",
                (time.time(), "the server stopped while this job was running; submit it again"),
            )
            known = {r["id"] for r in self._db.execute("SELECT id FROM jobs")}
        for job_id in ids:
            shutil.rmtree(self.folder(job_id) / "out", ignore_errors=True)
        for folder in self.jobs_dir.iterdir():
            if folder.name not in known:
                shutil.rmtree(folder, ignore_errors=True)
        return ids

    def expire(self, older_than_s: float) -> list[str]:
        """Remove finished jobs whose end is more than ``older_than_s`` seconds ago."""
        cutoff = time.time() - older_than_s
        with self._lock:
            ids = [
                r["id"]
                for r in self._db.execute(
                    "SELECT id FROM jobs WHERE state IN ('done','failed','cancelled') AND finished < ?", (cutoff,)
                )
            ]
        for job_id in ids:
            self.delete(job_id)
        return ids

    # -- reads ------------------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute("SELECT * FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _job(row) if row else None

    def list(self, limit: int = 100) -> list[Job]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM jobs ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [_job(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self._lock:
            rows = self._db.execute("SELECT state, COUNT(*) AS n FROM jobs GROUP BY state").fetchall()
        out = dict.fromkeys(STATES, 0)
        out.update({r["state"]: r["n"] for r in rows})
        return out


def _job(row) -> Job:
    d = dict(row)
    d.pop("seq")
    d["options"], d["outputs"] = json.loads(d["options"]), json.loads(d["outputs"])
    d["files"] = tuple(json.loads(d["files"]))
    return Job(**d)
