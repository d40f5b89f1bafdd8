"""The runs manifest: one row per input in ``DIR/runs.sqlite``, written by the driver only.

Columns: ``input`` (path), ``key`` (its part files' name), ``content_hash``, ``options_hash``,
``state`` (``running``, ``done``, ``incomplete``, ``failed``), ``rows``, ``frames``,
``seconds``, ``error``, ``attempts``, ``size`` and ``mtime_ns`` (the file as last analysed),
``updated`` (UTC). A row is set ``running`` before its input is handed to a worker and
``done`` only after its parts are renamed into place, so a killed run leaves ``running`` rows
that the next run redoes. The folder's options hash is kept once (``meta`` table): a run with
other options is refused rather than mixing results. ``DIR/runs.parquet`` is a copy of the
table written at the end of each run, for readers.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from pathlib import Path

from affectlens.batch.task import Outcome, Task, content_hash

MANIFEST = "runs.sqlite"
_COLUMNS = (
    "input",
    "key",
    "content_hash",
    "options_hash",
    "state",
    "rows",
    "frames",
    "seconds",
    "error",
    "attempts",
    "size",
    "mtime_ns",
    "updated",
)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    input TEXT PRIMARY KEY, key TEXT, content_hash TEXT, options_hash TEXT, state TEXT,
    rows INTEGER, frames INTEGER, seconds REAL, error TEXT, attempts INTEGER,
    size INTEGER, mtime_ns INTEGER, updated TEXT);
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
"""


def options_hash(options_dict: dict) -> str:
    text = json.dumps(options_dict, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _stat(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


class Manifest:
    """The SQLite manifest of one output folder (see the module docstring)."""

    def __init__(self, out: str | Path, opts_hash: str):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.out / MANIFEST, isolation_level=None)
        # each statement is its own transaction; WAL with NORMAL sync survives a killed process
        # (only a power cut may lose the last rows, which the next run then redoes)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.executescript(_SCHEMA)
        self.options_hash = opts_hash
        self._check_options()

    def _check_options(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE name = 'options_hash'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('options_hash', ?)", (self.options_hash,))
        elif row[0] != self.options_hash:
            raise ValueError(
                f"--out {self.out} holds results of other options ({self.out / 'options.toml'}); "
                f"use a new --out folder, or the same options with --config {self.out / 'options.toml'}"
            )

    def is_done(self, path: str) -> bool:
        """True when ``path`` was analysed to the end with these options and its bytes are the
        same (checked by size and time first; ``content_hash(path)`` only when those changed)."""
        row = self.db.execute(
            "SELECT state, options_hash, content_hash, size, mtime_ns FROM runs WHERE input = ?", (path,)
        ).fetchone()
        if row is None or row[0] not in ("done", "incomplete") or row[1] != self.options_hash:
            return False
        stat = _stat(path)
        if stat is None:
            return False
        if (row[3], row[4]) == stat:
            return True
        try:
            same = content_hash(path) == row[2]
        except OSError:
            return False
        if same:
            self.db.execute("UPDATE runs SET size = ?, mtime_ns = ? WHERE input = ?", (*stat, path))
        return same

    def start(self, task: Task) -> None:
        self.db.execute(
            "INSERT INTO runs (input, key, options_hash, state, attempts, updated) VALUES (?, ?, ?, 'running', 0, ?) "
            "ON CONFLICT(input) DO UPDATE SET state = 'running', options_hash = excluded.options_hash, "
            "key = excluded.key, updated = excluded.updated",
            (task.path, task.key, self.options_hash, _now()),
        )

    def finish(self, task: Task, outcome: Outcome, attempts: int) -> None:
        size, mtime = _stat(task.path) or (None, None)
        row = (
            task.path,
            task.key,
            outcome.content_hash,
            self.options_hash,
            outcome.state,
            outcome.rows,
            outcome.frames,
            round(outcome.seconds, 3),
            outcome.error,
            attempts,
            size,
            mtime,
            _now(),
        )
        self.db.execute(
            f"INSERT OR REPLACE INTO runs ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(row))})", row
        )

    def rows(self) -> list[dict]:
        cur = self.db.execute(f"SELECT {', '.join(_COLUMNS)} FROM runs ORDER BY input")
        return [dict(zip(_COLUMNS, r)) for r in cur]

    def export(self) -> Path:
        """Write ``DIR/runs.parquet`` (atomically) from the table."""
        import pandas as pd

        path = self.out / "runs.parquet"
        tmp = path.with_name(".runs.parquet.tmp")
        pd.DataFrame(self.rows(), columns=list(_COLUMNS)).to_parquet(tmp, index=False)
        os.replace(tmp, path)
        return path

    def close(self) -> None:
        self.db.close()


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


__all__ = ["MANIFEST", "Manifest", "options_hash"]
