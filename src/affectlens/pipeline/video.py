"""Video analysis in running mode: frames in increasing time → tracked, smoothed faces.

:class:`VideoSession` is the running mode for frames you decode yourself: feed it frames with
increasing ``time_ms``; it owns a :class:`~affectlens.pipeline.tracking.Tracker` and a
:class:`~affectlens.pipeline.smoothing.Smoother` and resets both in :meth:`VideoSession.reset`.
:func:`analyze_video_iter` decodes a file, camera or stream (needs the ``[video]`` extra) and
yields one frozen :class:`~affectlens.types.FrameResult` per analysed frame; a new session is
made for every call, so nothing leaks from one video into the next.

Throughput: frames are decoded in a background thread (bounded queue). A face that has been
found is followed by the face mesh from frame to frame, and the detector runs only every
``detect_every`` frames (to look for new faces), on a shot cut, or when a followed face is lost
(:mod:`affectlens.pipeline.follow`). Finding the faces runs in frame order in its own thread
(the mesh of one frame starts from the previous one); detections likely to be needed are
started early in a pool of worker threads, and the stateless part of each frame (alignment, one
classifier call for all its faces, their mirrors and, for each face when it appears and then
every ``occlusion_every`` ms, the occlusion check's copies) runs in that pool too, several
frames at a time; tracking and smoothing run in frame order in the caller's thread, beside the
finding of the next frames (a face keeps its track's last occlusion energies between checks).
Detection, meshes and classification release the GIL, so the threads use all cores.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace

import numpy as np

from affectlens.detect import Detector, create_detector
from affectlens.detect.base import iou_matrix
from affectlens.io.video import VideoReader
from affectlens.models.uncertainty import logits_and_signals
from affectlens.options import Options
from affectlens.pipeline.follow import Follower, Located
from affectlens.pipeline.image import Analyzer, describe_face, image_analyzer
from affectlens.pipeline.smoothing import Smoother
from affectlens.pipeline.tracking import ShotCutDetector, Tracker, appearance, box_histogram
from affectlens.types import Expression, FrameResult, TrackedFace, as_mesh

log = logging.getLogger("affectlens")

_END = object()  # the locate thread's last item: no more frames

#: Longest side the face detector sees in video frames, at most (larger frames are downscaled
#: for it). By default it sees half the frame's longest side, within
#: [VIDEO_DETECT_MIN_SIDE, VIDEO_DETECT_MAX_SIDE]: 320 px for 640x480, 640 px for 1280x720 and up.
VIDEO_DETECT_MAX_SIDE = 640
VIDEO_DETECT_MIN_SIDE = 320
#: onnxruntime threads for the classifier in videos: one face crop per call is too small to
#: split; the frames are spread over worker threads instead.
VIDEO_CLASSIFIER_THREADS = 1
#: onnxruntime threads of each detection in videos (the worker threads are the parallelism).
VIDEO_DETECTOR_THREADS = 1
#: Worker threads by default: one per core, at most this many.
MAX_WORKERS = 4
#: A face overlapping none of the previous frame's faces by more than this (box IoU) is new: it
#: gets the occlusion check's extra passes (it has no track reading to keep yet); otherwise it
#: carries the check time of the previous face it overlaps most.
NEW_FACE_IOU = 0.3


def auto_detect_size(width: int, height: int) -> int:
    """The detector's input size (longest side) for a video frame: half its longest side,
    within [VIDEO_DETECT_MIN_SIDE, VIDEO_DETECT_MAX_SIDE]."""
    return int(min(VIDEO_DETECT_MAX_SIDE, max(VIDEO_DETECT_MIN_SIDE, round(max(width, height) / 2))))


def default_workers() -> int:
    """Analysis worker threads: one per available core, at most :data:`MAX_WORKERS`."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(MAX_WORKERS, cores))


@dataclass(frozen=True)
class FrameAnalysis:
    """The faces of one frame with everything computed from its pixels: the ordered stage's
    faces, meshes and shot cut (:class:`~affectlens.pipeline.follow.Located`), then raw logits
    and probabilities (one classifier call for all faces, their mirrors and the occlusion
    check's copies), the occlusion signals used by ``uncertain`` and appearance descriptors."""

    located: Located
    logits: np.ndarray  # (N, K)
    probs: np.ndarray  # (N, K), calibrated
    signals: tuple[np.ndarray, ...]  # occlusion signals per face (models.uncertainty.occlusion_signals)
    descriptors: np.ndarray  # (N, D)


class VideoSession:
    """Running mode over one video: find faces → align → classify (one batch) → track → smooth → assess.

    Each face's ``affect`` (valence, arousal, confidence, compound, ``ambiguous``) follows the
    smoothed probabilities; the other ``uncertain`` reasons come from the frame itself.

    :meth:`process` does one frame in three steps: :meth:`locate` (in frame order: shot cuts,
    then the detector or the face mesh following the faces, see
    :mod:`affectlens.pipeline.follow`), :meth:`analyze_faces` (stateless: may run for several
    frames at once in other threads) and :meth:`update` (tracking and smoothing, in frame
    order). ``detector`` replaces the analyzer's (e.g. one with a smaller input size). Reads
    the ``video`` stage of the options tree (tracking, smoothing, shot cuts, ``detect_every``)
    and ``face.au_baseline``.
    """

    def __init__(
        self,
        analyzer: Analyzer,
        options: Options | None = None,
        source: str = "<video>",
        detector: Detector | None = None,
    ):
        self.analyzer = analyzer
        self.detector = detector or analyzer.detector
        options = options or Options()
        video = options.video
        self.options = options
        self.source = source
        self.tracker = Tracker(video.tracking)
        self.smoother = Smoother(video.smoothing)
        self.cuts = ShotCutDetector(video.cut_threshold) if video.cut_threshold else None
        self.follower = Follower(analyzer.face_mesh, video.detect_every, options.detection.min_face)
        self.baseline = None
        if options.face.au_baseline and analyzer.face_mesh is not None:
            from affectlens.models.action_units import NeutralBaseline

            self.baseline = NeutralBaseline()
        self._last_ms: float | None = None
        self._frame = -1
        self._prev_boxes = np.zeros((0, 4))  # the previous located frame's face boxes (x, y, w, h)
        self._checked = np.zeros(0)  # ... and when each was last given the occlusion passes (ms)
        self._energies: dict[int, tuple[float, float]] = {}  # track -> last (eyes, mouth) energies

    def reset(self) -> None:
        """Forget all tracks and smoothing state (before another video)."""
        self.tracker.reset()
        self.smoother.reset()
        self.follower.reset()
        if self.baseline:
            self.baseline.reset()
        if self.cuts:
            self.cuts.reset()
        self._last_ms = None
        self._frame = -1
        self._prev_boxes = np.zeros((0, 4))
        self._checked = np.zeros(0)
        self._energies.clear()

    def process(self, rgb: np.ndarray, time_ms: float, frame: int | None = None) -> FrameResult:
        """Analyse the next frame (RGB uint8, ``time_ms`` greater than the previous one's)."""
        self._check_time(time_ms)
        return self.update(self.analyze_faces(rgb, self.locate(rgb, time_ms=time_ms)), rgb.shape, time_ms, frame)

    def detection_wanted(self) -> bool:
        """Whether the next frame to :meth:`locate` is likely a detection frame (its detection
        may then be started early, in another thread)."""
        return self.follower.expects_detection(self.follower.count)

    def locate(self, rgb: np.ndarray, detection: Future | None = None, time_ms: float | None = None) -> Located:
        """The faces and meshes of the next frame, in frame order. ``detection``: a future of
        ``self.detector.detect(rgb)`` started earlier (used if the frame needs detection);
        ``time_ms``: the frame's time (faces are followed only across short gaps)."""
        cut = bool(self.cuts and self.cuts.observe(ShotCutDetector.histogram(rgb)))
        detect = detection.result if detection is not None else (lambda: self.detector.detect(rgb))
        located = self.follower.locate(rgb, detect, cut, time_ms)
        every = self.options.video.occlusion_check_ms
        boxes = np.array([f.box for f in located.faces], dtype=np.float64).reshape(-1, 4)
        # each face carries the check time of the previous frame's face it overlaps most; a face
        # that overlaps none by more than NEW_FACE_IOU has no track reading to keep yet
        checked = np.full(len(boxes), np.nan)
        if len(boxes) and len(self._prev_boxes) and not cut:
            iou = iou_matrix(boxes, self._prev_boxes)
            best = iou.argmax(axis=1)
            same = iou[np.arange(len(boxes)), best] > NEW_FACE_IOU
            checked[same] = self._checked[best[same]]
        if not every or time_ms is None:
            due = np.ones(len(boxes), dtype=bool)
        else:
            due = np.isnan(checked) | (time_ms - checked >= every)  # NaN compares False
            checked[due] = time_ms
        self._prev_boxes, self._checked = boxes, checked
        return replace(located, occlusion_check=tuple(bool(d) for d in due))

    def analyze_faces(self, rgb: np.ndarray, located: Located) -> FrameAnalysis:
        """Align and classify the located faces of one frame. Stateless and thread-safe."""
        an = self.analyzer
        faces = list(located.faces)
        crops = an.align(rgb, faces)
        check = np.array(located.occlusion_check, dtype=bool) if located.occlusion_check else True
        logits, signals = logits_and_signals(an.model, crops, check)
        probs = an.model.postprocess(logits, crops)
        if faces:
            desc = np.concatenate([appearance(crops), np.stack([box_histogram(rgb, f.box) for f in faces])], axis=1)
        else:
            desc = np.zeros((0, 1))
        return FrameAnalysis(located, logits, probs, signals, desc)

    def update(
        self, analysis: FrameAnalysis, shape: tuple[int, ...], time_ms: float, frame: int | None = None
    ) -> FrameResult:
        """Track and smooth the analysed faces of the next frame (in frame order)."""
        self._check_time(time_ms)
        self._last_ms = time_ms
        self._frame = self._frame + 1 if frame is None else frame
        located = analysis.located
        if located.cut:
            self.tracker.cut()
        faces = located.faces
        boxes = np.array([f.box for f in faces], dtype=np.float64).reshape(-1, 4)
        ids = self.tracker.update(boxes, analysis.descriptors, time_ms)
        alive = set(self.tracker.active)
        for gone in [t for t in list(self.smoother._state) if t not in alive]:
            self.smoother.drop(gone)
            if self.baseline:
                self.baseline.drop(gone)
        for gone in [t for t in self._energies if t not in alive]:
            del self._energies[gone]
        signals = self._track_energies(ids, analysis.signals)
        an = self.analyzer
        labels = an.model.labels
        smoothed = np.array([self.smoother.update(tid, time_ms, p) for p, tid in zip(analysis.probs, ids)])
        affects = an.assess(list(faces), None, analysis.logits, smoothed.reshape(analysis.probs.shape), signals)
        out = []
        for i, (f, p, tid, s, a, pts) in enumerate(zip(faces, analysis.probs, ids, smoothed, affects, located.meshes)):
            raw = Expression(labels, tuple(float(v) for v in p))
            expr = Expression(labels, tuple(float(v) for v in s))
            neutral = None
            if self.baseline:
                from affectlens.models.action_units import raw_measures

                neutral = self.baseline.update(tid, raw_measures(pts))
            pose, aus, why = describe_face(pts, expr.top, an.face_mesh is not None, neutral)
            out.append(
                TrackedFace(
                    index=i,
                    track=tid,
                    face=f,
                    raw=raw,
                    expression=expr,
                    affect=a,
                    mesh=as_mesh(pts),
                    pose=pose,
                    aus=aus,
                    rationale=why,
                )
            )
        return FrameResult(
            source=self.source,
            frame=self._frame,
            time_ms=float(time_ms),
            width=int(shape[1]),
            height=int(shape[0]),
            faces=tuple(out),
            skipped_small=located.skipped_small,
            model=self.analyzer.model.cfg.name,
        )

    def _track_energies(self, ids, signals: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        """The occlusion signals with each face's energies filled in from its track's last
        reading on frames that skipped the extra passes (and remembered where they ran)."""
        eyes, mouth = np.array(signals[0], dtype=np.float64), np.array(signals[1], dtype=np.float64)
        for i, tid in enumerate(ids):
            if np.isnan(eyes[i]) and np.isnan(mouth[i]):
                eyes[i], mouth[i] = self._energies.get(tid, (np.nan, np.nan))
            else:
                self._energies[tid] = (float(eyes[i]), float(mouth[i]))
        return (eyes, mouth, *signals[2:])

    def _check_time(self, time_ms: float) -> None:
        if self._last_ms is not None and time_ms <= self._last_ms:
            raise ValueError(
                f"video frames need increasing timestamps: got {time_ms} ms after "
                f"{self._last_ms} ms (call reset() before a new video)"
            )


class VideoRun:
    """One pass over a video source: iterate for :class:`FrameResult` objects.

    Opening happens at construction (so a bad input fails at once, naming the input and the
    reason). After iteration ``stopped`` says why decoding ended early (truncated or corrupt
    input), or is None. ``width``, ``height``, ``fps``, ``has_audio`` and ``expected_frames``
    describe the source; ``detect_size`` and ``workers`` say how it is analysed.
    """

    def __init__(self, source, options: Options | None = None):
        self.options = options = options or Options()
        if options.detection.crop_mode != "detect":
            raise ValueError("video analysis needs crop_mode 'detect' (faces are found in each frame)")
        analyzer = image_analyzer(options, VIDEO_CLASSIFIER_THREADS)
        self.reader = VideoReader(source, options.video.sampling, live=options.video.live)
        self.source = self.reader.name
        self.detect_size = options.detection.size or auto_detect_size(self.reader.width, self.reader.height)
        self.workers = options.video.workers or default_workers()
        det = options.detection
        detector = create_detector(
            det.detector,
            score_threshold=det.threshold,
            max_side=self.detect_size,
            min_side=min(VIDEO_DETECT_MIN_SIDE, self.detect_size),
            threads=VIDEO_DETECTOR_THREADS,
        )
        self.session = VideoSession(analyzer, options, source=self.source, detector=detector)

    def __getattr__(self, name):
        if name in ("width", "height", "fps", "has_audio", "expected_frames", "stopped", "duration", "origin"):
            return getattr(self.reader, name)
        raise AttributeError(name)

    def __iter__(self):
        for _, result in self.pairs():
            yield result

    def pairs(self):
        """``(VideoFrame, FrameResult)`` pairs in frame order, for callers that also need the pixels.

        Frames go through four stages on three kinds of threads: a *locate* thread reads the
        decoded frames, starts detection early in the worker pool for frames likely to need it
        and runs :meth:`VideoSession.locate` in frame order (the face mesh follows faces from
        frame to frame); :meth:`VideoSession.analyze_faces` runs in the pool; the caller's
        thread runs :meth:`VideoSession.update` in frame order and whatever it does with the
        results (writing them), beside the locate thread. Up to ``2 * workers`` located frames
        (``workers`` when live) wait for the caller, and up to ``workers // 2 + 1`` decoded ones
        for the locate thread; the results do not depend on ``workers``.
        """
        session, ahead = self.session, self.workers if self.options.video.live else 2 * self.workers
        pool = ThreadPoolExecutor(self.workers, thread_name_prefix="affectlens-analyse")
        located: queue.Queue = queue.Queue(maxsize=ahead)  # (frame, analysis future), _END or an error
        stop = threading.Event()

        def put(item) -> bool:
            while not stop.is_set():
                try:
                    located.put(item, timeout=0.1)
                    return True
                except queue.Full:
                    continue
            return False

        def locate_all() -> None:
            waiting: deque = deque()  # (frame, detection future or None), not located yet

            def locate_next() -> bool:
                vf, detection = waiting.popleft()
                found = session.locate(vf.rgb, detection, vf.time_ms)
                if detection is not None and not found.detected:
                    detection.cancel()
                return put((vf, pool.submit(session.analyze_faces, vf.rgb, found)))

            try:
                for vf in self.reader:
                    number = session.follower.count + len(waiting)
                    early = session.follower.expects_detection(number)
                    waiting.append((vf, pool.submit(session.detector.detect, vf.rgb) if early else None))
                    while len(waiting) >= max(1, self.workers // 2 + 1):
                        if not locate_next():
                            return
                while waiting:
                    if not locate_next():
                        return
                put(_END)
            except BaseException as exc:  # handed to the caller's thread, raised there
                put(exc)

        locator = threading.Thread(target=locate_all, name="affectlens-locate", daemon=True)
        locator.start()
        try:
            while True:
                item = located.get()
                if item is _END:
                    break
                if isinstance(item, BaseException):
                    raise item
                vf, job = item
                yield vf, session.update(job.result(), vf.rgb.shape, vf.time_ms, vf.index)
        finally:
            stop.set()
            locator.join()
            pool.shutdown(wait=True, cancel_futures=True)
            self.reader.close()

    def close(self) -> None:
        self.reader.close()
