"""Python conveniences: thin calls of :func:`affectlens.run` for one input that return its
typed results (and raise :class:`~affectlens.io.image.InputError` for a bad input).

Keyword arguments change options by flag name (``fps=5``, ``smooth="none"``, ``threshold=0.6``,
``transcript="talk.srt"``; see :meth:`affectlens.options.Options.replace`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from affectlens.io.image import InputError
from affectlens.jobs.run import Runner, run
from affectlens.options import Options
from affectlens.types import FrameResult, InputFailure, SegmentResult

log = logging.getLogger("affectlens")


def _options(options: Options | None, flat: dict) -> Options:
    options = options or Options()
    return options.replace(**flat) if flat else options


def _checked(results) -> Iterator:
    for r in results:
        if isinstance(r, InputFailure):
            if not r.partial:
                raise InputError(r.reason)
            log.warning("%s", r.reason)
            continue
        yield r


def analyze_video_iter(source, options: Options | None = None, **flat) -> Iterator[FrameResult]:
    """Frame results of a video file, camera index or stream URL, one per analysed frame, as
    they are ready (face only). A camera or URL is read in the running mode directly."""
    options = _options(options, flat)
    if isinstance(source, int) or (isinstance(source, str) and (source.isdigit() or "://" in source)):
        from affectlens.pipeline.video import VideoRun

        return iter(VideoRun(source, options))
    from affectlens.jobs import plan, probe

    info = probe(source)  # a bad input raises here, naming it and the reason
    plan(info, ("face",), False)
    results = run(info, options.replace(modalities=("face",)))
    return (r for r in _checked(results) if isinstance(r, FrameResult))


def analyze_video(source, options: Options | None = None, **flat) -> list[FrameResult]:
    """All frame results of a video (``affectlens.to_dataframe`` makes a table of them)."""
    return list(analyze_video_iter(source, options, **flat))


def analyze_av(path, options: Options | None = None, **flat) -> list[SegmentResult]:
    """Every modality the input has (face, voice, and text with ``transcript=``), fused per
    speech segment and face track."""
    results = Runner(_options(options, flat)).run(path)
    return [r for r in _checked(results) if isinstance(r, SegmentResult)]


def analyze_audio(path, options: Options | None = None, **flat) -> list[SegmentResult]:
    """Voice only (and text with ``transcript=``): one result per utterance (one ``no speech``
    result when there is none)."""
    options = _options(options, flat)
    mods = ("voice", "text") if options.text.transcript else ("voice",)
    return analyze_av(path, options.replace(modalities=mods))
