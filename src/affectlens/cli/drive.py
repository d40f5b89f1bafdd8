"""What every analysing command does after parsing: run the inputs, feed the writers, report.

One function, :func:`drive`, so ``analyze``, ``demo``, ``live`` and ``text`` differ only in
their arguments: it checks the outputs before any model loads, streams :func:`affectlens.run`
into :class:`~affectlens.export.writers.Writers`, logs each bad input in one line, and on
Ctrl-C or SIGTERM writes everything analysed so far.
"""

from __future__ import annotations

import logging
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

from affectlens.export.writers import Writers, check_out
from affectlens.io.image import InputError
from affectlens.jobs.probe import expand
from affectlens.jobs.run import Progress, Runner
from affectlens.options import Options, OutputOptions
from affectlens.types import InputFailure

log = logging.getLogger("affectlens")


def check_outputs(outputs: OutputOptions) -> None:
    """Fail early (ValueError, one line) on output names with an unsupported suffix."""
    from affectlens.export.video import SUMMARY_SUFFIXES
    from affectlens.viz.timeline import TIMELINE_SUFFIXES

    check_out(outputs.out)
    for flag, value, valid in (("--summary", outputs.summary, SUMMARY_SUFFIXES),
                               ("--timeline", outputs.timeline, TIMELINE_SUFFIXES)):
        if value and Path(value).suffix.lower() not in valid:
            raise ValueError(f"{flag} {value}: unsupported format {Path(value).suffix or '(none)'!r}; "
                             f"valid: {', '.join(valid)}")


class _Bars:
    """Progress on a terminal (quiet in pipes and CI): inputs done, and the current video's frames."""

    def __init__(self, inputs: int):
        from tqdm.auto import tqdm

        self.tqdm = tqdm
        self.enabled = sys.stderr.isatty()
        self.inputs = tqdm(total=inputs, unit="input", disable=not self.enabled or inputs < 2, leave=False)
        self.frames = None

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        if self.frames is None:
            self.frames = self.tqdm(total=p.total or None, desc=Path(p.source).name, unit=p.unit, leave=False,
                                    position=1 if not self.inputs.disable else 0, smoothing=0.1)
        self.frames.total = p.total or None
        self.frames.n = p.done
        self.frames.refresh()
        if p.finished:
            self.frames.close()
            self.frames = None

    def close(self) -> None:
        if self.frames is not None:
            self.frames.close()
        self.inputs.close()


@contextmanager
def _sigterm_as_interrupt():
    """SIGTERM stops a run like Ctrl-C does (results so far are written)."""
    def handler(signum, frame):
        raise KeyboardInterrupt

    try:
        old = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not in the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def drive(inputs: list, options: Options, outputs: OutputOptions, *, primary: str = "faces") -> int:
    """Analyse ``inputs`` into the outputs; the exit code (0 ok, 1 some input failed)."""
    check_outputs(outputs)
    items = list(expand(i for i in inputs if isinstance(i, (str, Path)))) + \
        [i for i in inputs if not isinstance(i, (str, Path))]
    if not items:
        log.error("error: no images, audio or videos found in %s", " ".join(map(str, inputs)))
        return 1
    runner = Runner(options)
    videos = sum(1 for i in items if isinstance(i, str) and _looks_like_video(i))
    writers = Writers(outputs, primary, analyzer=runner.image_analyzer if outputs.explain else None,
                      many_videos=videos > 1, start_ms=options.video.sampling.start * 1000.0)
    bars = _Bars(len(items))
    failures = done = 0
    with _sigterm_as_interrupt():
        try:
            for result in runner.run(items, pixels=bool(outputs.annotate or outputs.explain), progress=bars):
                if isinstance(result, InputFailure):
                    log.error("error: %s", result.reason)
                    failures += 1
                    continue
                writers.add(result)
                done += 1
        except KeyboardInterrupt:
            log.error("interrupted: writing the %d result(s) analysed so far", done)
            failures += 1
        finally:
            bars.close()
            writers.close()
    return 1 if failures else 0


def _looks_like_video(path: str) -> bool:
    from affectlens.io.video import VIDEO_SUFFIXES

    return Path(path).suffix.lower() in VIDEO_SUFFIXES


__all__ = ["InputError", "check_outputs", "drive"]
