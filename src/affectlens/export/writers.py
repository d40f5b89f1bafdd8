"""Writers: typed results in, files and stdout out. :class:`Writers` fans each result of
:func:`affectlens.run` out to the sinks that :class:`~affectlens.options.OutputOptions` names.

Tables (``--out FILE.ext``; ``.csv``, ``.jsonl`` or ``.parquet``), one stable schema per kind,
their file names fixed by kind, never by what an input happens to contain:

=============  =========================================  ================================
kind           rows                                       file
=============  =========================================  ================================
``faces``      one per face per photo or video frame      ``FILE.ext`` (``analyze``)
``segments``   one per speech segment and face track      ``FILE-segments.ext``
``text``       one per text or transcript segment         ``FILE-text.ext`` (``FILE.ext`` for ``text``)
``tracks``     one per video face track                   ``FILE-tracks.ext``
=============  =========================================  ================================

A table is written only when the run gave rows of its kind. Also: annotated images and videos
(``--annotate``), per-track summaries (``--summary``), timelines (``--timeline``) and
explanations (``--explain``).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

from affectlens.export.records import _TO_TABLE, TABLE_KINDS, records_of
from affectlens.export.table import TABLE_SUFFIXES, records_to_frame, write_table
from affectlens.export.video import TrackSummarizer
from affectlens.options import OutputOptions
from affectlens.types import FrameResult, ImageResult, InputFailure

log = logging.getLogger("affectlens")


def table_paths(out: str | Path, primary: str = "faces") -> dict[str, Path]:
    """The file of each table kind for ``--out``: the primary kind gets ``out`` itself."""
    out = Path(out)
    return {k: out if k == primary else out.with_name(f"{out.stem}-{k}{out.suffix}") for k in TABLE_KINDS}


def check_out(out: str | None) -> None:
    """Fail early (ValueError, one line) on an ``--out`` name with an unsupported suffix."""
    if out and Path(out).suffix.lower() not in TABLE_SUFFIXES:
        raise ValueError(
            f"--out {out}: unsupported format {Path(out).suffix.lower() or '(none)'!r}; "
            f"valid: {', '.join(TABLE_SUFFIXES)}"
        )


class Writers:
    """Every sink of one CLI run. Call :meth:`add` per result, :meth:`close` once at the end
    (also after Ctrl-C: everything added so far is written). ``primary``: the table kind that
    ``--out`` itself names."""

    def __init__(
        self,
        outputs: OutputOptions,
        primary: str = "faces",
        analyzer=None,
        many_videos: bool = False,
        start_ms: float = 0.0,
        names: dict[str, str] | None = None,
    ):
        self.outputs = outputs
        self.primary = primary
        self.analyzer = analyzer  # for --explain
        self.many_videos = many_videos
        self.rows: dict[str, list[dict]] = {k: [] for k in TABLE_KINDS}
        self.errors: list[str] = []  # outputs that could not be written, one line each
        self.summaries: list = []
        self.written: list[str] = []
        self._video = _VideoSinks(outputs, many_videos, start_ms, names or {})
        self._images = _ImageSinks(outputs, analyzer)

    def add(self, result) -> None:
        if isinstance(result, InputFailure):
            return
        kind, recs = records_of(result)
        annotated = None  # the picture or video this result is drawn into: the table's mapping column
        if isinstance(result, FrameResult):
            annotated = self._video.add(result, recs, self.summaries, self.written)
        else:
            self._video.finish(self.summaries, self.written)
        if isinstance(result, ImageResult):
            try:
                written, annotated = self._images.add(result, recs)
                self.written += written
            except OSError as exc:
                self.errors.append(f"{result.source}: cannot write its picture ({exc.strerror or exc})")
        if annotated is not None:
            for r in recs:
                r["annotated"] = str(annotated)
        printing = not (self.outputs.json or self.outputs.quiet)  # frames are summarised, not printed
        if self.outputs.out or (printing and not isinstance(result, FrameResult)):
            self.rows[kind] += recs
        if self.outputs.json:
            sys.stdout.write("".join(json.dumps(r, allow_nan=False, default=_jsonable) + "\n" for r in recs))
            sys.stdout.flush()

    def _write(self, path, write, what: str) -> None:
        """One output: written, or one line in ``errors`` (the other outputs are still written)."""
        try:
            write()
            self.written.append(what)
        except OSError as exc:
            self.errors.append(f"{path}: cannot write ({exc.strerror or exc})")

    def close(self) -> None:
        try:
            self._video.finish(self.summaries, self.written)
        except OSError as exc:
            self.errors.append(f"{self._video.source}: cannot write its video outputs ({exc.strerror or exc})")
        if self.outputs.out:
            from affectlens.export.video import summary_records

            self.rows["tracks"] = summary_records(self.summaries)
            for kind, path in table_paths(self.outputs.out, self.primary).items():
                if self.rows[kind]:
                    self._write(
                        path,
                        lambda: write_table(self.rows[kind], path, to_table=_TO_TABLE[kind]),  # noqa: B023
                        f"{len(self.rows[kind])} {kind} row(s) to {path}",
                    )
        if self.outputs.summary:
            from affectlens.export.video import write_summary

            self._write(
                self.outputs.summary,
                lambda: write_summary(self.summaries, self.outputs.summary),
                f"{len(self.summaries)} track summary row(s) to {self.outputs.summary}",
            )
        if not self.outputs.json and not self.outputs.quiet:
            print_tables(self.rows, self.summaries)
        pictures = self._video.seen or self._images.seen
        for flag in ("annotate", "timeline", "explain"):
            if getattr(self.outputs, flag) and not pictures:
                log.info("--%s: no photo or video frame was analysed, so nothing was drawn", flag)
        if self.written and not self.outputs.quiet:
            log.info("wrote %s", "; ".join(self.written))


class _ImageSinks:
    """Annotated images and explanations, per photo."""

    def __init__(self, outputs: OutputOptions, analyzer):
        from affectlens.viz.video import VIDEO_OUT_SUFFIXES

        self.outputs, self.analyzer = outputs, analyzer
        annotate = outputs.annotate
        self.annotate_dir = (
            Path(annotate) if annotate and Path(annotate).suffix.lower() not in VIDEO_OUT_SUFFIXES else None
        )
        self.used: set[str] = set()
        self.explained: set[str] = set()
        self.seen = False

    def add(self, result: ImageResult, recs: list[dict]) -> tuple[list[str], Path | None]:
        """What was written (lines for the log) and the annotated picture's path (or None)."""
        self.seen = True
        written, path = [], None
        if result.pixels is None:
            return written, path
        if self.annotate_dir:
            from affectlens.viz import annotate

            self.annotate_dir.mkdir(parents=True, exist_ok=True)
            path = unique_path(self.annotate_dir, result.source, ".png", self.used)
            annotate(result.pixels, result, detail=self.outputs.annotate_detail).save(path)
            written.append(f"annotated {result.source} to {path}")
        if self.outputs.explain:
            from affectlens.viz.explain import write_explanations

            folder = Path(self.outputs.explain)
            stem = unique_path(folder, result.source, ".png", self.explained).stem
            write_explanations(self.analyzer, result.pixels, result, recs, folder, stem)
        return written, path


class _VideoSinks:
    """Annotated video, timeline and track summary of the video being analysed."""

    def __init__(self, outputs: OutputOptions, many: bool, start_ms: float, names: dict[str, str]):
        self.outputs, self.many, self.start_ms = outputs, many, start_ms
        self.names = names  # input path → the name shown in titles (the service's upload names)
        self.source: str | None = None
        self.writer = None
        self.summarizer = None
        self.records: list[dict] = []
        self.seen = False

    def add(self, result: FrameResult, recs: list[dict], summaries: list, written: list[str]) -> Path | None:
        """Take one frame; the annotated video it goes into (or None)."""
        self.seen = True
        if result.source != self.source:
            self.finish(summaries, written)
            self._start(result)
        self.summarizer.add(result)
        if self.outputs.timeline:
            self.records += recs
        if self.writer is not None and result.pixels is not None:
            self.writer.write(result.pixels, result)
            return self.target
        return None

    def _start(self, result: FrameResult) -> None:
        self.source = result.source
        self.summarizer = TrackSummarizer()
        target = annotate_target(self.outputs.annotate, result.source, self.many)
        if target:
            from affectlens.viz.video import AnnotatedVideoWriter

            self.writer = AnnotatedVideoWriter(
                target, audio_from=result.source, offset_ms=self.start_ms, detail=self.outputs.annotate_detail
            )
            self.target = target

    def finish(self, summaries: list, written: list[str]) -> None:
        if self.source is None:
            return
        summaries += self.summarizer.summaries()
        if self.writer is not None:
            self.writer.close()
            written.append(f"annotated {self.source} to {self.target}")
        timeline = per_video(self.outputs.timeline, self.source, self.many)
        if timeline and self.records:
            from affectlens.viz.timeline import plot_timeline

            plot_timeline(
                records_to_frame(self.records), timeline, title=Path(self.names.get(self.source, self.source)).name
            )
            written.append(f"timeline of {self.source} to {timeline}")
        self.source, self.writer, self.records = None, None, []


def unique_path(folder: Path, source: str, suffix: str, used: set[str]) -> Path:
    """``folder/<stem><suffix>``, numbered ``<stem>-2`` … when two inputs share a stem."""
    stem = Path(source).stem
    name, n = f"{stem}{suffix}", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}{suffix}"
    used.add(name)
    return folder / name


def per_video(path: str | None, source: str, many: bool) -> Path | None:
    """An output file for one video: ``path`` itself, or ``<stem>-<video stem><suffix>`` for many."""
    if not path:
        return None
    p = Path(path)
    return p.with_name(f"{p.stem}-{Path(source).stem}{p.suffix}") if many else p


def annotate_target(annotate: str | None, source: str, many: bool) -> Path | None:
    from affectlens.viz.video import VIDEO_OUT_SUFFIXES

    if not annotate:
        return None
    if Path(annotate).suffix.lower() in VIDEO_OUT_SUFFIXES:
        return per_video(annotate, source, many)
    return Path(annotate) / f"{Path(source).stem}.mp4"  # a folder


def _jsonable(value):
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


# -- tables on stdout -----------------------------------------------------------------------------
def print_tables(rows: dict[str, list[dict]], summaries: list) -> None:
    from affectlens.export.printing import print_faces, print_segments, print_summary, print_texts

    print_faces([r for r in rows["faces"] if "frame" not in r])
    print_segments(rows["segments"])
    print_summary(summaries)
    print_texts(rows["text"])
