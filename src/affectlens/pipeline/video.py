"""Video analysis in running mode: frames in increasing time → tracked, smoothed faces.

:class:`VideoSession` is the running mode for frames you decode yourself: feed it frames with
increasing ``time_ms``; it owns a :class:`~affectlens.pipeline.tracking.Tracker` and a
:class:`~affectlens.pipeline.smoothing.Smoother` and resets both in :meth:`VideoSession.reset`.
:func:`analyze_video_iter` decodes a file, camera or stream (needs the ``[video]`` extra) and
yields one frozen :class:`~affectlens.types.FrameResult` per analysed frame; a new session is
made for every call, so nothing leaks from one video into the next.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

import numpy as np

from affectlens.io.video import Sampling, VideoReader
from affectlens.pipeline.image import Analyzer, _analyzer, describe_face
from affectlens.pipeline.options import AnalyzeOptions
from affectlens.pipeline.smoothing import SmoothingOptions, Smoother
from affectlens.pipeline.tracking import ShotCutDetector, Tracker, TrackerOptions, appearance, box_histogram
from affectlens.types import Expression, FrameResult, TrackedFace, as_mesh

log = logging.getLogger("affectlens")

#: Longest side the face detector sees in video frames (larger frames are downscaled for it).
VIDEO_DETECT_MAX_SIDE = 640
#: onnxruntime threads for the classifier in videos: one face crop per call is too small to
#: split, and a second spinning thread pool slows the (OpenMP) detector that uses the cores.
VIDEO_CLASSIFIER_THREADS = 1


@dataclass(frozen=True)
class VideoOptions:
    """How to sample, track and smooth a video.

    - ``fps`` / ``every``: analyse at most ``fps`` frames per second (by timestamp), or every
      ``every``-th frame; ``start`` / ``end``: the time range in seconds.
    - ``smooth``: ``none``, ``ema`` or ``oneeuro`` (see :mod:`affectlens.pipeline.smoothing`),
      ``ema_ms``, ``min_cutoff``, ``beta``: its parameters.
    - ``max_age_ms``: how long a track survives unseen; ``cut_threshold``: how different two
      frames' colour histograms must be to count as a shot cut, which ends every track
      (None: never).
    - ``live``: treat the source as live: drop frames the analysis cannot keep up with and play
      files at their real speed.
    - ``au_baseline``: measure action units against each track's own neutral face (a
      :class:`~affectlens.models.action_units.NeutralBaseline`) instead of the population's,
      once the track has been seen with a face mesh in 10 frames.
    """

    fps: float | None = None
    every: int = 1
    start: float = 0.0
    end: float | None = None
    smooth: str = "ema"
    ema_ms: float = 200.0
    min_cutoff: float = 1.0
    beta: float = 0.5
    max_age_ms: float = 1000.0
    cut_threshold: float | None = 0.04
    live: bool = False
    au_baseline: bool = False

    def __post_init__(self) -> None:
        if self.cut_threshold is not None and not 0 < self.cut_threshold <= 1:
            raise ValueError(f"cut_threshold must be in (0, 1] or None, got {self.cut_threshold}")
        self.sampling()
        self.smoothing()
        self.tracking()

    def sampling(self) -> Sampling:
        return Sampling(fps=self.fps, every=self.every, start=self.start, end=self.end)

    def smoothing(self) -> SmoothingOptions:
        return SmoothingOptions(method=self.smooth, ema_ms=self.ema_ms, min_cutoff=self.min_cutoff, beta=self.beta)

    def tracking(self) -> TrackerOptions:
        return TrackerOptions(max_age_ms=self.max_age_ms)


class VideoSession:
    """Running mode over one video: detect → align → classify (one batch) → track → smooth."""

    def __init__(self, analyzer: Analyzer, options: VideoOptions | None = None, source: str = "<video>"):
        self.analyzer = analyzer
        self.options = options or VideoOptions()
        self.source = source
        self.tracker = Tracker(self.options.tracking())
        self.smoother = Smoother(self.options.smoothing())
        self.cuts = ShotCutDetector(self.options.cut_threshold) if self.options.cut_threshold else None
        self._last_mesh: dict[int, np.ndarray] = {}  # per track: its mesh in the previous frame
        self.baseline = None
        if self.options.au_baseline and analyzer.face_mesh is not None:
            from affectlens.models.action_units import NeutralBaseline

            self.baseline = NeutralBaseline()
        self._last_ms: float | None = None
        self._frame = -1

    def reset(self) -> None:
        """Forget all tracks and smoothing state (before another video)."""
        self.tracker.reset()
        self.smoother.reset()
        self._last_mesh.clear()
        if self.baseline:
            self.baseline.reset()
        if self.cuts:
            self.cuts.reset()
        self._last_ms = None
        self._frame = -1

    def process(self, rgb: np.ndarray, time_ms: float, frame: int | None = None) -> FrameResult:
        """Analyse the next frame (RGB uint8, ``time_ms`` greater than the previous one's)."""
        if self._last_ms is not None and time_ms <= self._last_ms:
            raise ValueError(f"video frames need increasing timestamps: got {time_ms} ms after "
                             f"{self._last_ms} ms (call reset() before a new video)")
        self._last_ms = time_ms
        self._frame = self._frame + 1 if frame is None else frame
        an = self.analyzer
        if self.cuts and self.cuts.is_cut(rgb):
            self.tracker.cut()
        faces, skipped = an.detect(rgb)
        crops = an.align(rgb, faces)
        probs = an.classify(crops)
        labels = an.model.labels
        boxes = np.array([f.box for f in faces], dtype=np.float64).reshape(-1, 4)
        if faces:
            desc = np.concatenate([appearance(crops), np.stack([box_histogram(rgb, f.box) for f in faces])], axis=1)
        else:
            desc = np.zeros((0, 1))
        ids = self.tracker.update(boxes, desc, time_ms)
        alive = set(self.tracker.active)
        for gone in [t for t in list(self.smoother._state) if t not in alive]:
            self.smoother.drop(gone)
            if self.baseline:
                self.baseline.drop(gone)
        for gone in [t for t in self._last_mesh if t not in alive]:
            del self._last_mesh[gone]
        meshes = an.mesh(rgb, faces, [self._last_mesh.get(t) for t in ids])
        out = []
        for i, (f, p, tid, pts) in enumerate(zip(faces, probs, ids, meshes)):
            raw = Expression(labels, tuple(float(v) for v in p))
            s = self.smoother.update(tid, time_ms, p)
            expr = Expression(labels, tuple(float(v) for v in s))
            if len(pts):
                self._last_mesh[tid] = pts
            else:
                self._last_mesh.pop(tid, None)
            neutral = None
            if self.baseline:
                from affectlens.models.action_units import raw_measures

                neutral = self.baseline.update(tid, raw_measures(pts))
            pose, aus, why = describe_face(pts, expr.top, an.face_mesh is not None, neutral)
            out.append(TrackedFace(index=i, track=tid, face=f, raw=raw, expression=expr, mesh=as_mesh(pts),
                                   pose=pose, aus=aus, rationale=why))
        return FrameResult(source=self.source, frame=self._frame, time_ms=float(time_ms),
                           width=int(rgb.shape[1]), height=int(rgb.shape[0]), faces=tuple(out),
                           skipped_small=skipped, model=an.model.cfg.name)


_ANALYZE_FIELDS = {f.name for f in dataclasses.fields(AnalyzeOptions)}
_VIDEO_FIELDS = {f.name for f in dataclasses.fields(VideoOptions)}


def split_options(options: VideoOptions | None, analyze_options: AnalyzeOptions | None, kwargs: dict):
    """(VideoOptions, AnalyzeOptions) from explicit objects and/or keyword fields of either."""
    unknown = set(kwargs) - _ANALYZE_FIELDS - _VIDEO_FIELDS
    if unknown:
        valid = ", ".join(sorted(_ANALYZE_FIELDS | _VIDEO_FIELDS))
        raise TypeError(f"unknown option(s) {', '.join(sorted(unknown))}; valid: {valid}")
    v = {k: kwargs[k] for k in kwargs if k in _VIDEO_FIELDS}
    a = {k: kwargs[k] for k in kwargs if k in _ANALYZE_FIELDS}
    options = dataclasses.replace(options, **v) if options else VideoOptions(**v)
    if analyze_options is None:
        a.setdefault("detect_max_side", VIDEO_DETECT_MAX_SIDE)
        a.setdefault("threads", VIDEO_CLASSIFIER_THREADS)
        analyze_options = AnalyzeOptions(**a)
    elif a:
        analyze_options = dataclasses.replace(analyze_options, **a)
    if analyze_options.crop_mode != "detect":
        raise ValueError("video analysis needs crop_mode 'detect' (faces are found in each frame)")
    return options, analyze_options


class VideoRun:
    """One pass over a video source: iterate for :class:`FrameResult` objects.

    Opening happens at construction (so a bad input fails at once, naming the input and the
    reason). After iteration ``stopped`` says why decoding ended early (truncated or corrupt
    input), or is None. ``width``, ``height``, ``fps``, ``has_audio`` and ``expected_frames``
    describe the source.
    """

    def __init__(self, source, options: VideoOptions | None = None, analyze_options: AnalyzeOptions | None = None,
                 **kwargs):
        self.options, self.analyze_options = split_options(options, analyze_options, kwargs)
        analyzer = _analyzer(self.analyze_options)
        self.reader = VideoReader(source, self.options.sampling(), live=self.options.live)
        self.source = self.reader.name
        self.session = VideoSession(analyzer, self.options, source=self.source)

    def __getattr__(self, name):
        if name in ("width", "height", "fps", "has_audio", "expected_frames", "stopped", "duration", "origin"):
            return getattr(self.reader, name)
        raise AttributeError(name)

    def __iter__(self):
        for _, result in self.pairs():
            yield result

    def pairs(self):
        """``(VideoFrame, FrameResult)`` pairs, for callers that also need the pixels."""
        try:
            for vf in self.reader:
                yield vf, self.session.process(vf.rgb, vf.time_ms, vf.index)
        finally:
            self.reader.close()
        if self.reader.stopped:
            log.warning("%s: %s", self.source, self.reader.stopped)

    def close(self) -> None:
        self.reader.close()


def analyze_video_iter(source, options: VideoOptions | None = None, **kwargs):
    """Frame results for a video file, camera index or stream URL, one per analysed frame.

    Keyword arguments are :class:`VideoOptions` or :class:`AnalyzeOptions` fields, e.g.
    ``analyze_video_iter("clip.mp4", fps=5, smooth="oneeuro")``. The source is opened at once
    (a :class:`~affectlens.io.video.VideoError` names it and the reason); frames are decoded in
    a background thread while the previous one is analysed.
    """
    return iter(VideoRun(source, options, **kwargs))


def analyze_video(source, options: VideoOptions | None = None, **kwargs):
    """The whole video as a pandas DataFrame, one row per face per analysed frame."""
    from affectlens.export.video import frame_records
    from affectlens.export.table import records_to_frame

    return records_to_frame(rec for r in analyze_video_iter(source, options, **kwargs) for rec in frame_records(r))
