"""The CLI's progress bars (cli/drive.py): shown on a terminal only; the inputs bar advances."""

from __future__ import annotations

import io

from affectlens.cli import drive
from affectlens.jobs.run import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_terminal_no_bars(monkeypatch):
    monkeypatch.setattr(drive.sys, "stderr", io.StringIO())
    bars = drive._Bars(3)
    bars.reached("a.jpg")
    bars(Progress("a.jpg", "image", 1, 0))
    assert bars.inputs is None and bars.frames is None
    bars.close()


def test_inputs_bar_counts_the_inputs_reached(monkeypatch):
    monkeypatch.setattr(drive.sys, "stderr", _Terminal())
    bars = drive._Bars(3)
    for source in ("a.jpg", "a.jpg", "b.mp4", "b.mp4", "c.wav"):
        bars.reached(source)
    assert (bars.inputs.n, bars.inputs.total) == (3, 3)
    bars(Progress("b.mp4", "frame", 5, 10))
    assert bars.frames.n == 5
    bars(Progress("b.mp4", "frame", 10, 10, finished=True))
    assert bars.frames is None
    bars.close()
