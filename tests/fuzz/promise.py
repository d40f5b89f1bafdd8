"""The promise every fuzz case checks: a bad input gives at most one line naming it, the other
inputs are still analysed and written, and nothing crashes, hangs or grows without bound.

:func:`check_in_process` runs :func:`affectlens.run` in the test process (fast; models stay
loaded); :func:`check_cli` runs ``python -m affectlens.cli`` in a child process with its address
space capped (``RLIMIT_AS``) and a timeout, and checks its exit code, stderr, ``--json`` stdout,
``--out`` records, wall time and peak resident memory.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from affectlens.export.records import records_of
from affectlens.types import InputFailure

#: Per-case limits (override with environment variables when the machine is busy).
TIMEOUT_S = float(os.environ.get("AFFECTLENS_FUZZ_TIMEOUT", "180"))
ADDRESS_SPACE = int(float(os.environ.get("AFFECTLENS_FUZZ_AS_GB", "3")) * 2**30)
RSS_CEILING_MB = float(os.environ.get("AFFECTLENS_FUZZ_RSS_MB", "1500"))


def _reject_constant(name: str):
    raise ValueError(f"bare {name} is not valid JSON")


def strict_json(line: str):
    """``json.loads`` that refuses ``NaN``/``Infinity`` (which Python's json accepts)."""
    return json.loads(line, parse_constant=_reject_constant)


def record_count(results, source: str) -> int:
    """How many table records the results of ``source`` make (what ``--out`` writes for it)."""
    return sum(len(records_of(r)[1]) for r in results if not isinstance(r, InputFailure) and r.source == source)


# -- in process ---------------------------------------------------------------------------------------


class CaseTimeout(BaseException):
    """Raised inside a case that ran past its time (a BaseException, so no ``except Exception``
    in the code under test swallows it)."""


@contextlib.contextmanager
def _deadline(seconds: float):
    """Interrupt the block after ``seconds`` (SIGALRM; main thread only, else no limit): a hang
    becomes a finding instead of stalling the whole run (a long run once sat 40 minutes in one
    case)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def ring(signum, frame):
        raise CaseTimeout

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def check_in_process(runner, items: list, bad: set[str], good: dict[str, int]) -> list:
    """Run ``items`` through ``runner``; ``bad`` are the sources of mutated inputs, ``good`` maps
    each good source to the number of records it makes alone. Returns the results."""
    t0 = time.perf_counter()
    try:
        with _deadline(TIMEOUT_S):
            results = list(runner.run(items))
    except CaseTimeout:
        raise AssertionError(f"no answer in {TIMEOUT_S:.0f} s (in process)") from None
    except Exception as exc:  # any escape is a violation: one bad input lost the others
        raise AssertionError(f"run() raised {type(exc).__name__}: {exc}") from exc
    seconds = time.perf_counter() - t0
    assert seconds < TIMEOUT_S, f"took {seconds:.0f} s (limit {TIMEOUT_S:.0f} s)"
    failures = [r for r in results if isinstance(r, InputFailure)]
    for f in failures:
        assert f.source in bad, f"a good input failed: {f.reason}"
        assert f.reason.startswith(f"{f.source}: ") and "\n" not in f.reason, f"not one line naming it: {f.reason!r}"
    for source in bad:
        mine = [f.reason for f in failures if f.source == source]
        assert len(mine) <= 1, f"{len(mine)} failures for one input: {mine}"
    for source, expected in good.items():
        got = record_count(results, source)
        assert got == expected, f"{source}: {got} record(s) beside the bad input, {expected} alone"
    for r in results:
        if not isinstance(r, InputFailure):
            json.dumps(records_of(r)[1], allow_nan=False, default=str)  # ValueError on NaN/Infinity
    return results


# -- through the CLI -------------------------------------------------------------------------------


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_mb: float  # the child's own peak RSS (VmHWM, reset by exec; ru_maxrss keeps the parent's)
    out: Path
    records: list[dict] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [line for line in self.stderr.splitlines() if "error:" in line]


#: The CLI in the child, which then writes its own peak resident memory (VmHWM, MB) to a file.
#: ru_maxrss would not do: a forked child starts with the parent's (large) RSS and keeps it
#: across exec, so a big test process would make every child look big.
_PEAK_CHILD = """
import sys
import threading
from affectlens.cli import main
path, sys.argv = sys.argv[1], [sys.argv[0], *sys.argv[2:]]
try:
    code = main()
finally:
    with open("/proc/self/status", encoding="ascii") as f:
        kb = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    with open(path, "w", encoding="ascii") as f:
        f.write(str(kb / 1024))
sys.exit(code)
"""


def run_cli(command: str, args: list, out: Path, stdin: bytes | None = None) -> Outcome:
    """``python -m affectlens.cli COMMAND --out OUT --json ARGS`` under the address-space cap
    and timeout (``args`` may be bytes: a text argument need not be valid UTF-8)."""
    hwm = out.with_name(out.name + ".peak")
    argv = [sys.executable, "-c", _PEAK_CHILD, str(hwm), command, "--out", str(out), "--json", *args]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(argv, input=stdin or b"", capture_output=True, timeout=TIMEOUT_S, preexec_fn=_limits)
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"no answer in {TIMEOUT_S:.0f} s: {argv}") from exc
    seconds = time.perf_counter() - t0
    peak = float(hwm.read_text()) if hwm.exists() else 0.0
    hwm.unlink(missing_ok=True)
    stderr = proc.stderr.decode("utf-8", "replace")
    outcome = Outcome(proc.returncode, proc.stdout.decode("utf-8", "replace"), stderr, seconds, peak, out)
    for table in sorted(out.parent.glob(f"{out.stem}*{out.suffix}")):
        rows = [strict_json(line) for line in table.read_text(encoding="utf-8").splitlines() if line]
        if table.stem != f"{out.stem}-tracks":  # per-track summaries of the video rows, not results
            outcome.records += rows
    return outcome


def check_cli(o: Outcome, bad: list[str], good: dict[str, int]) -> None:
    """The promise for one CLI run: ``bad`` are the mutated inputs (as named on the command
    line), ``good`` maps each good input to the records it makes alone."""
    where = f"exit {o.code}; stderr: {o.stderr[-2000:]!r}"
    assert o.code in (0, 1), f"exit code {o.code} (crash or usage error); {where}"
    assert "Traceback" not in o.stderr, where
    for line in o.errors:
        named = [b for b in bad if b in line]
        assert named, f"an error line names no mutated input: {line!r}"
    for b in bad:
        mine = [line for line in o.errors if b in line]
        assert len(mine) <= 1, f"{len(mine)} error lines for {b}: {mine}"
    assert (o.code == 1) == bool(o.errors), f"exit code {o.code} with {len(o.errors)} error line(s); {where}"
    for line in o.stdout.splitlines():
        if line.strip():
            try:
                strict_json(line)
            except ValueError as exc:
                raise AssertionError(f"--json printed a line that is not JSON ({exc}): {line[:300]!r}") from None
    for source, expected in good.items():
        got = sum(1 for r in o.records if r.get("source") == source)
        assert got == expected, f"--out has {got} record(s) of the good input {source}, {expected} expected; {where}"
    assert o.seconds < TIMEOUT_S
    assert o.peak_mb < RSS_CEILING_MB, f"peak resident memory {o.peak_mb:.0f} MB (ceiling {RSS_CEILING_MB:.0f} MB)"
