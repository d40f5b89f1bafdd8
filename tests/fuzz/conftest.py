"""Fuzz-suite fixtures and modes.

Short mode (default, for CI): a few derandomised examples per test (fixed seed, no example
database), the whole folder in a few minutes. Long mode (``AFFECTLENS_FUZZ=long``): random
examples, hypothesis run after hypothesis run, each test fuzzing for its share of
``AFFECTLENS_FUZZ_MINUTES`` (default 40); the cases run are counted in the summary. ``AFFECTLENS_FUZZ_STATS=FILE`` appends one JSON line per case run
(test, seed, strategies, seconds); ``AFFECTLENS_FUZZ_FINDINGS=DIR`` keeps the input bytes of
every violating case there.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings

sys.path.insert(0, str(Path(__file__).parent))  # seeds, mutate, promise: helpers of this folder

from seeds import build_seeds  # noqa: E402

LONG = os.environ.get("AFFECTLENS_FUZZ", "short") == "long"
_quiet = list(HealthCheck)
settings.register_profile(
    "fuzz-short",
    max_examples=4,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=_quiet,
    print_blob=True,
)
settings.register_profile("fuzz-long", deadline=None, database=None, suppress_health_check=_quiet, print_blob=True)
PROFILE = "fuzz-long" if LONG else "fuzz-short"


def fuzz_settings(short_examples: int, shrink: bool = True):
    """This mode's settings; ``short_examples`` examples per test in short mode. ``shrink``
    False for the slow CLI cases (a failing case is kept as it is, see :func:`keep_finding`)."""
    phases = [p for p in Phase if shrink or p not in (Phase.shrink, Phase.explain)]
    return settings(settings.get_profile(PROFILE), max_examples=short_examples, phases=phases)


#: Cases run per (test, seed, strategy) in this session; printed at the end.
COUNTS: Counter = Counter()
_budget: dict[str, float] = {}


def pytest_collection_modifyitems(items):
    fuzz = [i for i in items if "fuzz" in i.nodeid and "memory" not in i.nodeid]
    minutes = float(os.environ.get("AFFECTLENS_FUZZ_MINUTES", "40"))
    for item in fuzz:
        _budget[item.nodeid] = minutes * 60 / max(1, len(fuzz))


def fuzz(request, body, short_examples: int, shrink: bool = True, **strategies) -> None:
    """Check the property ``body(**drawn)`` in this mode: in short mode one hypothesis run of
    ``short_examples`` examples; in long mode hypothesis runs of a few random examples each,
    one after another, until the test's share of ``AFFECTLENS_FUZZ_MINUTES`` is used up (a run
    that finds a violation shrinks it and fails the test)."""
    if not LONG:
        settings(fuzz_settings(short_examples, shrink))(given(**strategies)(body))()
        return
    end = time.monotonic() + _budget.get(request.node.nodeid, 60.0)
    while time.monotonic() < end:
        settings(fuzz_settings(short_examples, shrink), max_examples=max(3, short_examples))(
            given(**strategies)(body)
        )()


def _shared() -> Path:
    return Path(os.environ.get("AFFECTLENS_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))


@pytest.fixture(scope="session")
def seeds(tmp_path_factory):
    return build_seeds(tmp_path_factory.mktemp("fuzz-seeds"), _shared())


@pytest.fixture(scope="session")
def runner():
    from affectlens.jobs import Runner

    return Runner()


@pytest.fixture(scope="session")
def good_counts(runner):
    """Records each good input makes alone (computed on first use, then cached)."""
    from promise import record_count

    cache: dict[str, int] = {}

    def count(item) -> int:
        key = item if isinstance(item, str) else item.path
        if key not in cache:
            cache[key] = record_count(list(runner.run([item])), key)
        return cache[key]

    return count


def note_case(test: str, seed: str, strategies: list[str], seconds: float) -> None:
    """Count a case that ran (and append it to ``AFFECTLENS_FUZZ_STATS`` when set)."""
    for s in strategies or ["-"]:
        COUNTS[(test, seed, s)] += 1
    stats = os.environ.get("AFFECTLENS_FUZZ_STATS")
    if stats:
        with open(stats, "a", encoding="utf-8") as f:
            f.write(
                json.dumps(
                    {
                        "test": test,
                        "seed": seed,
                        "strategies": strategies,
                        "seconds": round(seconds, 2),
                        "t": round(time.time(), 1),
                    }
                )
                + "\n"
            )


def keep_finding(data: bytes, suffix: str, message: str, command: str = "") -> None:
    """Save a violating input under ``AFFECTLENS_FUZZ_FINDINGS`` (by content hash)."""
    folder = os.environ.get("AFFECTLENS_FUZZ_FINDINGS")
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    if len(list(path.iterdir())) > 400:
        return
    name = hashlib.sha1(data).hexdigest()[:16]
    (path / f"{name}{suffix}").write_bytes(data)
    (path / f"{name}.txt").write_text(f"{command}\n{message}\n", encoding="utf-8", errors="backslashreplace")


def pytest_terminal_summary(terminalreporter):
    if not COUNTS:
        return
    terminalreporter.section(f"fuzz cases run ({'long' if LONG else 'short'} mode)")
    for (test, seed, strategy), n in sorted(COUNTS.items()):
        terminalreporter.write_line(f"{n:>7}  {test:<28} {seed:<8} {strategy}")
