"""The one entry point: :func:`run` (inputs, options) → typed results, streamed.

For each input, in order: :func:`~affectlens.jobs.probe.probe` says what it is; the modality
rule (:func:`plan`, written once) says which of face, voice and text run on it; the stages run
and their results come out as they are ready:

==========  ======================================================================
input       results
==========  ======================================================================
image       one :class:`~affectlens.types.ImageResult`
video, av   one :class:`~affectlens.types.FrameResult` per analysed frame (face), then
            one :class:`~affectlens.types.SegmentResult` per speech segment and face
            track (voice, face and text fused; one ``whole input`` / ``no audio`` /
            ``no speech`` segment when there is no speech to split it)
audio       :class:`~affectlens.types.SegmentResult` per speech segment (voice, text)
text        one :class:`~affectlens.types.TextItemResult` per line
transcript  one :class:`~affectlens.types.TextItemResult` per segment (with times)
==========  ======================================================================

A bad input gives an :class:`~affectlens.types.InputFailure` (its one-line reason) and the run
goes on. Stopping the iteration (or Ctrl-C) leaves every result already yielded intact.
Models load lazily, once per :class:`Runner`. Consecutive photos are analysed by a small pool of
threads sharing those models (:data:`PHOTO_WORKERS`; the detector, onnxruntime and Pillow release
the GIL while they work), so a folder of photos uses both cores; results still come out in input
order, and a photo that fails gives its error record without stopping the others.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from affectlens.io.image import InputError
from affectlens.jobs.probe import MediaInfo, expand, probe
from affectlens.options import MODALITIES, Options
from affectlens.types import FrameResult, ImageResult, InputFailure, SegmentResult, TextItemResult

log = logging.getLogger("affectlens")

Result = ImageResult | FrameResult | SegmentResult | TextItemResult | InputFailure

#: Threads that analyse consecutive photos at once (at most the number of cores).
PHOTO_WORKERS = max(1, min(2, os.cpu_count() or 1))
#: Photos are decoded one at a time: ``load_image`` records Pillow's warnings with
#: ``warnings.catch_warnings``, which is process-wide state (the other thread keeps analysing).
_DECODE = threading.Lock()


@dataclass(frozen=True)
class Texts:
    """Texts given directly (not from a file): ``source`` names them in the results."""

    texts: tuple[str, ...]
    source: str = "<args>"


@dataclass(frozen=True)
class Typed:
    """A path whose kind the caller names (``text``: one text per line, ``-`` = stdin;
    ``transcript``: .srt, .vtt or .json) instead of leaving it to :func:`probe`."""

    path: str
    kind: str


@dataclass(frozen=True)
class Progress:
    """How far one input is: ``done`` of ``total`` units (``total`` 0 when unknown)."""

    source: str
    unit: str  # "frame", "image", "segment", "text"
    done: int
    total: int
    finished: bool = False


ProgressFn = Callable[[Progress], None]


def plan(info: MediaInfo, requested: tuple[str, ...] | None, transcript: bool) -> tuple[str, ...]:
    """The modality rule, once: the modalities that run on this input.

    ``requested`` None: every modality the input has (text when a transcript is given, for
    audio and video). Otherwise the requested ones the input has; asking only for modalities
    it lacks is an :class:`InputError` naming them.
    """
    has = set(info.modalities)
    if info.kind in ("audio", "video", "av") and transcript:
        has.add("text")
    if requested is None:
        if info.kind == "video":
            log.info("%s: no audio stream: face only", info.path)
        return tuple(m for m in MODALITIES if m in has)
    run = tuple(m for m in requested if m in has)
    if not run:
        what = {
            "image": "a photo",
            "audio": "an audio file (no video stream)",
            "video": "a video without sound",
            "av": "a video",
            "text": "a text file",
            "transcript": "a transcript",
        }[info.kind]
        lacking = ", ".join(requested)
        offer = ",".join(m for m in MODALITIES if m in has) or "none"
        raise InputError(f"{info.path}: {what} has no {lacking} modality (use --modalities {offer})")
    missing = [m for m in requested if m not in has]
    if missing:
        log.info("%s: no %s here: %s only", info.path, " or ".join(missing), "+".join(run))
    return run


class Runner:
    """Holds the models of one options tree (loaded on first use) and runs inputs through them."""

    def __init__(self, options: Options | None = None, photo_workers: int | None = None):
        self.options = options or Options()
        self.photo_workers = PHOTO_WORKERS if photo_workers is None else photo_workers
        if isinstance(self.photo_workers, bool) or not isinstance(self.photo_workers, int) or self.photo_workers < 1:
            raise ValueError(f"photo_workers must be an integer >= 1, got {photo_workers!r}")
        self._speech = None
        self._text = None
        if self.options.modalities and "text" in self.options.modalities and not self.options.text.transcript:
            raise ValueError("the text modality of audio and video needs a transcript (--transcript FILE)")

    # -- models ---------------------------------------------------------------------------------
    @property
    def image_analyzer(self):
        from affectlens.pipeline.image import image_analyzer

        return image_analyzer(self.options)

    @property
    def speech(self):
        if self._speech is None:
            from affectlens.pipeline.speech import SpeechAnalyzer

            self._speech = SpeechAnalyzer(self.options.voice.model, self.options.voice.vad)
        return self._speech

    @property
    def text_model(self):
        if self._text is None:
            from affectlens.models.text import load_text_model

            self._text = load_text_model(self.options.text.model, self.options.text.language_check)
        return self._text

    # -- the run ----------------------------------------------------------------------------------
    def run(self, inputs, *, pixels: bool = False, progress: ProgressFn | None = None) -> Iterator[Result]:
        photos = _PhotoPool(self, pixels, progress)
        try:
            for item in _items(inputs):
                if isinstance(item, InputError):
                    yield from photos.ready(InputFailure(_source_of(item), str(item)))
                    continue
                if isinstance(item, Texts):
                    yield from photos.drain()
                    yield from self._texts(list(item.texts), item.source, None)
                    continue
                try:
                    info = _info(item)
                    mods = plan(info, self.options.modalities, bool(self.options.text.transcript))
                except InputError as exc:
                    yield from photos.ready(InputFailure(_source_of(exc, item), str(exc)))
                    continue
                if info.kind == "image":
                    yield from photos.submit(info.path)
                    continue
                yield from photos.drain()
                yield from self._one(info, mods, pixels, progress)
            yield from photos.drain()
        finally:
            photos.close()

    def _one(self, info: MediaInfo, mods, pixels: bool, progress: ProgressFn | None) -> Iterator[Result]:
        try:
            if info.kind == "image":
                yield self.image(info.path, pixels)
            elif info.kind in ("text", "transcript"):
                yield from self._text_file(info)
            else:
                yield from self._media(info, mods, pixels, progress)
        except InputError as exc:
            yield InputFailure(info.path, str(exc))

    def image(self, path: str, pixels: bool = False) -> ImageResult:
        from affectlens.io.image import load_image

        with _DECODE:
            loaded = load_image(path)
        result = self.image_analyzer.analyze(loaded.pixels, source=path)
        if result.skipped_small:
            log.info(
                "%s: skipped %d face(s) smaller than %d px", path, result.skipped_small, self.options.detection.min_face
            )
        return dataclasses.replace(result, pixels=loaded.pixels) if pixels else result

    def image_or_failure(self, path: str, pixels: bool = False) -> ImageResult | InputFailure:
        """:meth:`image`, with an unreadable photo as its :class:`InputFailure` record."""
        try:
            return self.image(path, pixels)
        except InputError as exc:
            return InputFailure(path, str(exc))

    def _media(self, info: MediaInfo, mods, pixels: bool, progress: ProgressFn | None) -> Iterator[Result]:
        from affectlens.fusion.segments import FaceSeriesBuilder

        faces = None
        if "face" in mods:
            faces = FaceSeriesBuilder()
            stopped = yield from self._frames(info, faces, pixels, progress)
            if stopped:
                yield InputFailure(info.path, f"{info.path}: {stopped}", partial=True)
        from affectlens.jobs.av import fuse_media

        yield from fuse_media(self, info, mods, faces.series() if faces is not None else None)

    def _frames(self, info: MediaInfo, faces, pixels: bool, progress: ProgressFn | None):
        """Yield the frame results of one video; return why decoding stopped early (or None)."""
        from affectlens.io.video import VideoError
        from affectlens.pipeline.video import VideoRun

        try:
            video = VideoRun(info.path, self.options)
        except VideoError as exc:
            raise InputError(str(exc)) from None
        total, done = video.expected_frames or 0, 0
        try:
            for vf, result in video.pairs():
                faces.add(result)
                done += 1
                total = max(total, done)
                if progress:
                    progress(Progress(info.path, "frame", done, total))
                yield dataclasses.replace(result, pixels=vf.rgb) if pixels else result
        finally:
            video.close()
        if progress:
            progress(Progress(info.path, "frame", done, done, finished=True))
        if done == 0 and not video.stopped:
            return "no frames to analyse (empty video, or --start past its end)"
        return video.stopped

    # -- text -------------------------------------------------------------------------------------
    def _text_file(self, info: MediaInfo) -> Iterator[TextItemResult]:
        if info.kind == "transcript" or info.path.lower().endswith(".json"):
            from affectlens.io.transcript import TranscriptError, read_transcript

            try:
                segments = read_transcript(info.path)
            except TranscriptError as exc:
                raise InputError(str(exc)) from None
            yield from self._texts([s.text for s in segments], info.path, segments)
            return
        from affectlens.io.text import read_lines

        yield from self._texts(read_lines(info.path), "<stdin>" if info.path == "-" else info.path, None)

    def _texts(self, texts: list[str], source: str, segments) -> Iterator[TextItemResult]:
        """Score in chunks so results stream and a long file shows progress."""
        from affectlens.pipeline.text import dialogue_contexts

        contexts = dialogue_contexts(texts, self.options.text.context) if segments is not None else None
        chunk = 500
        for start in range(0, len(texts), chunk):
            part = texts[start : start + chunk]
            ctx = contexts[start : start + chunk] if contexts is not None else None
            for i, r in enumerate(self.text_model.predict(part, ctx), start=start):
                seg = segments[i] if segments is not None else None
                yield TextItemResult(
                    source,
                    i,
                    r,
                    start_ms=seg.start_ms if seg else None,
                    end_ms=seg.end_ms if seg else None,
                    speaker=seg.speaker if seg else None,
                )


class _PhotoPool:
    """Analyses photos on ``runner.photo_workers`` threads, a few ahead of the one being
    yielded; results come out in submission order. Reports each finished photo to
    ``progress`` (unit ``image``: photos done in this stretch of photos; total 0 until its end)."""

    def __init__(self, runner: Runner, pixels: bool, progress: ProgressFn | None):
        self.runner, self.pixels, self.progress = runner, pixels, progress
        self.workers = runner.photo_workers
        self.pending: deque = deque()
        self.executor = None
        self.done = self.total = 0
        self.source = ""

    def submit(self, path: str) -> Iterator[Result]:
        """Queue ``path``; yield the oldest results while too many are waiting."""
        if self.workers == 1:
            return self._queue(path, None)
        if self.executor is None:
            from concurrent.futures import ThreadPoolExecutor

            _ = self.runner.image_analyzer  # load the models once, before the threads share them
            self.executor = ThreadPoolExecutor(self.workers, thread_name_prefix="affectlens-photo")
        return self._queue(path, self.executor.submit(self.runner.image_or_failure, path, self.pixels))

    def ready(self, result: Result) -> Iterator[Result]:
        """Queue a result that is already known (an input's error record), keeping input order."""
        return self._queue(None, result)

    def _queue(self, path: str | None, work) -> Iterator[Result]:
        self.total += 1
        self.pending.append((path, work))
        while len(self.pending) > 2 * self.workers - 1:
            yield self._next()

    def drain(self) -> Iterator[Result]:
        """Yield every queued result (before an input that is not a photo, and at the end)."""
        while self.pending:
            yield self._next()
        if self.total > 1 and self.progress:
            self.progress(Progress(self.source, "image", self.done, self.total, finished=True))
        self.done = self.total = 0

    def _next(self) -> Result:
        path, work = self.pending.popleft()
        if path is None:
            result = work
        elif work is None:
            result = self.runner.image_or_failure(path, self.pixels)
        else:
            result = work.result()
        self.done += 1
        self.source = path or self.source
        if self.progress and self.total > 1:
            self.progress(Progress(self.source, "image", self.done, 0))  # the stretch's length is not known yet
        return result

    def close(self) -> None:
        """Stop (the caller stopped iterating, or Ctrl-C): cancel queued photos, wait for running ones."""
        for path, work in self.pending:
            if path is not None and work is not None:
                work.cancel()
        self.pending.clear()
        if self.executor is not None:
            self.executor.shutdown(wait=True, cancel_futures=True)
            self.executor = None


def _info(item) -> MediaInfo:
    if isinstance(item, MediaInfo):
        return item
    if isinstance(item, Typed):
        return MediaInfo("-", "text") if item.path == "-" else probe(item.path, item.kind)
    return probe(item)


_PASS = (Texts, MediaInfo, Typed, InputError)


def _items(inputs) -> Iterator:
    """Paths expanded (folders → files); :class:`Texts`, :class:`Typed`, :class:`MediaInfo`
    and already-found input errors passed through."""
    if isinstance(inputs, (str, os.PathLike) + _PASS):
        inputs = [inputs]
    paths: list = []
    for item in inputs:
        if isinstance(item, _PASS):
            yield from expand(paths)
            paths = []
            yield item
        else:
            paths.append(item)
    yield from expand(paths)


def _source_of(exc: Exception, default=None) -> str:
    """The input an InputError names (its message starts with ``<source>: ``)."""
    if isinstance(default, (MediaInfo, Typed)):
        return default.path
    if default is not None:
        return os.fspath(default)
    return str(exc).split(": ", 1)[0]


def run(
    inputs: Iterable | str | os.PathLike,
    options: Options | None = None,
    *,
    pixels: bool = False,
    progress: ProgressFn | None = None,
) -> Iterator[Result]:
    """Analyse ``inputs`` (paths, folders, :class:`Texts`) with ``options``: typed, frozen
    results, streamed in input order (see the module docstring). ``pixels=True`` keeps each
    image's and frame's RGB pixels on its result (for writers that draw on them);
    ``progress`` is called with a :class:`Progress` as each video frame is done."""
    return Runner(options).run(inputs, pixels=pixels, progress=progress)
