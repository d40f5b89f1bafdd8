"""What every analysing command does after parsing: run the inputs, feed the writers, report.

One function, :func:`drive`, so ``analyze``, ``demo``, ``live`` and ``text`` differ only in
their arguments: it checks the outputs before any model loads, streams :func:`affectlens.run`
into :class:`~affectlens.export.writers.Writers`, logs each bad input in one line, and on
Ctrl-C or SIGTERM writes everything analysed so far.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from affectlens.export.printing import safe
from affectlens.export.writers import Writers, check_out
from affectlens.io.image import InputError
from affectlens.jobs.probe import expand
from affectlens.jobs.run import Progress, Runner, Typed
from affectlens.options import Options, OutputOptions
from affectlens.types import InputFailure

log = logging.getLogger("affectlens")


def check_outputs(outputs: OutputOptions) -> None:
    """Fail early (ValueError, one line) on output names with an unsupported suffix."""
    from affectlens.export.video import SUMMARY_SUFFIXES
    from affectlens.viz.timeline import TIMELINE_SUFFIXES

    check_out(outputs.out)
    for flag, value, valid in (
        ("--summary", outputs.summary, SUMMARY_SUFFIXES),
        ("--timeline", outputs.timeline, TIMELINE_SUFFIXES),
    ):
        if value and Path(value).suffix.lower() not in valid:
            raise ValueError(
                f"{flag} {value}: unsupported format {Path(value).suffix or '(none)'!r}; valid: {', '.join(valid)}"
            )


def _real(path) -> Path:
    """The path with links followed where they lead (a broken link or link loop: as written)."""
    try:
        return Path(path).resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _writable_place(path: Path, flag: str, want: str) -> None:
    """``path`` can be made as a ``want`` (file or folder): not the other kind already, and its
    nearest existing parent is a folder."""
    if want == "file" and path.is_dir():
        raise ValueError(f"{flag} {path}: is a folder; name a file")
    if want == "folder" and path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path}: is a file; name a folder")
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ValueError(f"{flag} {path}: {parent} is a file, not a folder")


def check_output_paths(given: list, files: list[str], outputs: OutputOptions, primary: str) -> None:
    """Before any model loads: every output can be written and never replaces or lands among
    the inputs (ValueError, one line, naming the flag and the path)."""
    from affectlens.export.writers import table_paths
    from affectlens.viz.video import VIDEO_OUT_SUFFIXES

    inputs = {_real(f) for f in files}
    folders = [_real(g) for g in given if Path(g).is_dir()]
    targets = []
    if outputs.out:
        targets += [("--out", p) for p in table_paths(outputs.out, primary).values()]
    targets += [(flag, Path(v)) for flag, v in (("--summary", outputs.summary), ("--timeline", outputs.timeline)) if v]
    if outputs.annotate and Path(outputs.annotate).suffix.lower() in VIDEO_OUT_SUFFIXES:
        targets.append(("--annotate", Path(outputs.annotate)))
    for flag, path in targets:
        _writable_place(path, flag, "file")
        if _real(path) in inputs:
            raise ValueError(f"{flag} {path}: is one of the inputs; name another file")
    dirs = [
        (flag, Path(v))
        for flag, v in (("--annotate", outputs.annotate), ("--explain", outputs.explain))
        if v and (flag == "--explain" or Path(v).suffix.lower() not in VIDEO_OUT_SUFFIXES)
    ]
    for flag, folder in dirs:
        if folder.suffix.lower() in (".png", ".jpg", ".jpeg"):
            raise ValueError(f"{flag} {folder}: name a folder (pictures are written into it, one per input)")
        _writable_place(folder, flag, "folder")
        f = _real(folder)
        if any(_inside(f, d) or _inside(d, f) for d in folders) or any(_inside(i, f) for i in inputs):
            raise ValueError(f"{flag} {folder}: holds or is among the inputs; name a folder outside them")


class _Bars:
    """Progress on a terminal (quiet in pipes and CI): inputs done, and the current video's frames."""

    def __init__(self, inputs: int):
        self.enabled = sys.stderr.isatty()
        self.inputs = self.frames = None
        if not self.enabled:  # no terminal: tqdm is not even imported (start-up time)
            return
        from tqdm.auto import tqdm

        self.tqdm = tqdm
        self.inputs = tqdm(total=inputs, unit="input", disable=inputs < 2, leave=False)
        self._seen: set[str] = set()

    def reached(self, source: str) -> None:
        """A result of ``source`` arrived: the inputs bar counts the inputs reached so far."""
        if self.enabled and source not in self._seen:
            self._seen.add(source)
            self.inputs.n = min(len(self._seen), self.inputs.total)
            self.inputs.refresh()

    def __call__(self, p: Progress) -> None:
        if not self.enabled:
            return
        if self.frames is None:
            self.frames = self.tqdm(
                total=p.total or None,
                desc="photos" if p.unit == "image" else Path(p.source).name,
                unit=p.unit,
                leave=False,
                position=1 if not self.inputs.disable else 0,
                smoothing=0.1,
            )
        self.frames.total = p.total or None
        self.frames.n = p.done
        self.frames.refresh()
        if p.finished:
            self.frames.close()
            self.frames = None

    def close(self) -> None:
        if self.frames is not None:
            self.frames.close()
        if self.inputs is not None:
            self.inputs.close()


def drive(inputs: list, options: Options, outputs: OutputOptions, *, primary: str = "faces") -> int:
    """Analyse ``inputs`` into the outputs; the exit code (0 ok, 1 some input failed)."""
    check_outputs(outputs)
    items = list(expand(i for i in inputs if isinstance(i, (str, Path)))) + [
        i for i in inputs if not isinstance(i, (str, Path))
    ]
    files = [
        i if isinstance(i, str) else i.path
        for i in items
        if isinstance(i, str) or (isinstance(i, Typed) and i.path != "-")
    ]
    check_output_paths([i for i in inputs if isinstance(i, (str, Path))], files, outputs, primary)
    if not items:
        log.error("error: no images, audio or videos found in %s", " ".join(map(str, inputs)))
        return 1
    runner = Runner(options)
    videos = sum(1 for i in items if isinstance(i, str) and _looks_like_video(i))
    writers = Writers(
        outputs,
        primary,
        analyzer=runner.image_analyzer if outputs.explain else None,
        many_videos=videos > 1,
        start_ms=options.video.sampling.start * 1000.0,
    )
    bars = _Bars(len(items))
    failures = done = 0
    try:  # Ctrl-C, and SIGTERM (cli.main makes it a KeyboardInterrupt), stop here
        for result in runner.run(items, pixels=bool(outputs.annotate or outputs.explain), progress=bars):
            bars.reached(result.source)
            if isinstance(result, InputFailure):
                log.error("error: %s", safe(result.reason))  # a file name with a newline stays one line
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
    for line in writers.errors:
        log.error("error: %s", line)
    return 1 if failures or writers.errors else 0


def _looks_like_video(path: str) -> bool:
    from affectlens.io.video import VIDEO_SUFFIXES

    return Path(path).suffix.lower() in VIDEO_SUFFIXES


__all__ = ["InputError", "check_outputs", "drive"]
