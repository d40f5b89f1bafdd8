"""The fuzz harness itself: a case that hangs becomes a finding instead of stalling the run."""

from __future__ import annotations

import time

import pytest
from promise import CaseTimeout, _deadline, check_in_process


def test_deadline_interrupts_a_hanging_block():
    t0 = time.perf_counter()
    with pytest.raises(CaseTimeout):
        with _deadline(0.2):
            while True:
                time.sleep(0.01)
    assert time.perf_counter() - t0 < 5
    with _deadline(5):  # a block that ends in time is untouched, and the alarm is cleared
        pass
    time.sleep(0.05)


def test_a_hanging_run_is_reported_as_a_violation(monkeypatch):
    import promise

    class Stuck:
        def run(self, items):
            while True:
                time.sleep(0.01)
            yield

    monkeypatch.setattr(promise, "TIMEOUT_S", 0.3)
    with pytest.raises(AssertionError, match="no answer in 0 s"):
        check_in_process(Stuck(), ["x"], {"x"}, {})
