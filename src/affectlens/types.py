"""Frozen result types and the unit conventions, written down once.

Conventions:
- Pixel coordinates are in the original image, after EXIF orientation is applied; the origin
  is the top-left corner; boxes are ``(x, y, w, h)``.
- Landmarks are five ``(x, y)`` points in this order: the eye on the image's left, the eye on
  the image's right, the nose tip, the mouth corner on the image's left, the mouth corner on
  the image's right.
- Probabilities are floats in [0, 1] that sum to 1 over a model's labels.
- Valence and arousal are in [-1, 1] (see :mod:`affectlens.models.valence_arousal`).
- Dense landmarks (the face mesh) are ``(x, y, z)`` points: ``x, y`` in original pixels, ``z``
  depth in the same pixel scale, larger = farther from the camera.
- Head pose is in degrees, 0/0/0 for a face looking straight into the camera: ``yaw`` > 0 when
  the face turns toward the image's right (the subject's left), ``pitch`` > 0 when it tilts up,
  ``roll`` > 0 when the line from the image-left eye to the image-right eye slopes downward on
  the image (a clockwise tilt as seen). NaN when not measured.
- Action units use FACS names (``AU12``) and intensities in [0, 1] (0 = a typical neutral face,
  1 = strong; see :mod:`affectlens.models.action_units`); NaN when not measured. Tables name
  them ``au01 … au43``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Box = tuple[float, float, float, float]
Point = tuple[float, float]


@dataclass(frozen=True)
class Face:
    """A detected face: where it is and how sure the detector is."""

    box: Box
    score: float
    landmarks: tuple[Point, ...]

    @property
    def size(self) -> float:
        """The face's size in pixels: the shorter side of its box."""
        return float(min(self.box[2], self.box[3]))

    def landmark_array(self) -> np.ndarray:
        return np.asarray(self.landmarks, dtype=np.float64).reshape(-1, 2)


@dataclass(frozen=True)
class Expression:
    """A model's answer for one face: probabilities over its labels, top label first."""

    labels: tuple[str, ...]
    probs: tuple[float, ...]

    @property
    def top(self) -> str:
        return self.labels[int(np.argmax(self.probs))]

    @property
    def top_prob(self) -> float:
        return float(max(self.probs))

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.labels, self.probs))


NAN = float("nan")


def no_mesh() -> np.ndarray:
    """The empty (0, 3) mesh of a face without one."""
    return as_mesh(np.zeros((0, 3)))


def as_mesh(points) -> np.ndarray:
    """Mesh points as the read-only float32 (N, 3) array stored in results."""
    arr = np.array(points, dtype=np.float32).reshape(-1, 3)
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True)
class HeadPose:
    """Yaw, pitch and roll in degrees (conventions above); NaN when not measured."""

    yaw: float = NAN
    pitch: float = NAN
    roll: float = NAN


@dataclass(frozen=True)
class ActionUnits:
    """FACS action-unit intensities in [0, 1] (``values``) and the geometric measures they come
    from (``raw``: inter-ocular distances; eye-width ratios for AU5 and AU43), one per name; empty
    when not computed."""

    names: tuple[str, ...] = ()
    values: tuple[float, ...] = ()
    raw: tuple[float, ...] = ()

    def as_dict(self) -> dict[str, float]:
        return dict(zip(self.names, self.values))

    def get(self, name: str) -> float:
        """The intensity of ``name`` (e.g. ``"AU12"``), NaN when not estimated."""
        return self.as_dict().get(name, NAN)


@dataclass(frozen=True)
class Affect:
    """What the expression distribution implies for one face, and how far to trust it.

    - ``valence``, ``arousal``: in [-1, 1], the expression probabilities projected onto
      circumplex prototypes (:mod:`affectlens.models.valence_arousal`), not a trained regressor.
    - ``confidence``: the calibrated top probability.
    - ``uncertain``: true when the answer should not be relied on; ``uncertain_reason`` says why
      (``ambiguous``, ``small face``, ``turned``, ``occluded``, ``unknown class``, joined with
      ``;``; empty when certain). See :mod:`affectlens.models.uncertainty`.
    - ``compound``: ``"a+b"`` when the top two labels are close, else the top label.
    """

    valence: float = 0.0
    arousal: float = 0.0
    confidence: float = 0.0
    uncertain: bool = False
    uncertain_reason: str = ""
    compound: str = ""


@dataclass(frozen=True)
class FaceResult:
    """One face of one image: where (``face``), what expression (``expression``), ``affect``.

    ``mesh`` (a read-only float32 array of 468 ``(x, y, z)`` points, shape (0, 3) when absent),
    ``pose``, ``aus`` and ``rationale`` come from the face mesh (``Options.face.mesh``);
    empty / NaN when it is off or cannot fit.
    """

    index: int
    face: Face
    expression: Expression
    affect: Affect = field(default_factory=Affect)
    mesh: np.ndarray = field(default_factory=lambda: no_mesh(), compare=False, repr=False)
    pose: HeadPose = HeadPose()
    aus: ActionUnits = ActionUnits()
    rationale: str = ""


@dataclass(frozen=True)
class ImageResult:
    """Everything found in one image. ``faces`` is empty (never ``None``) when there is none."""

    source: str
    width: int
    height: int
    faces: tuple[FaceResult, ...] = ()
    skipped_small: int = 0  # faces found but smaller than the minimum face size
    model: str = ""
    crop_mode: str = "detect"
    pixels: np.ndarray | None = field(default=None, compare=False, repr=False)  # run(..., pixels=True)


# -- video ------------------------------------------------------------------------------------
# Times are milliseconds from the start of the file (the container's presentation time), so
# variable frame rates keep true times. ``track`` ids start at 0, are unique within one video
# and never shared by two faces of the same frame.


@dataclass(frozen=True)
class TrackedFace:
    """One face of one video frame: its track, the smoothed ``expression`` and the ``raw`` one."""

    index: int
    track: int
    face: Face
    expression: Expression  # after temporal smoothing (equal to ``raw`` with smoothing "none")
    raw: Expression  # the model's answer for this frame alone
    affect: Affect = field(default_factory=Affect)  # from the smoothed ``expression``
    mesh: np.ndarray = field(default_factory=lambda: no_mesh(), compare=False, repr=False)  # as in FaceResult
    pose: HeadPose = HeadPose()
    aus: ActionUnits = ActionUnits()  # per-track neutral baseline applied when enabled
    rationale: str = ""


@dataclass(frozen=True)
class FrameResult:
    """Everything found in one analysed video frame. ``faces`` is empty when there is none."""

    source: str
    frame: int  # the frame's number in the video stream (0 = first frame)
    time_ms: float
    width: int
    height: int
    faces: tuple[TrackedFace, ...] = ()
    skipped_small: int = 0
    model: str = ""
    pixels: np.ndarray | None = field(default=None, compare=False, repr=False)  # run(..., pixels=True)


@dataclass(frozen=True)
class ExpressionSpan:
    """A stretch of one track during which one expression (smoothed) was on top."""

    expression: str
    start_ms: float
    end_ms: float


@dataclass(frozen=True)
class TrackSummary:
    """One track over a whole video."""

    source: str
    track: int
    first_ms: float
    last_ms: float
    frames: int  # analysed frames in which the track was seen
    mean_probs: tuple[tuple[str, float], ...]  # (label, mean smoothed probability), model order
    dominant: str  # label with the highest mean probability
    segments: tuple[ExpressionSpan, ...] = ()


# -- speech and fusion ----------------------------------------------------------------------------
# Segment times are milliseconds from the start of the audio stream ([start_ms, end_ms)).
# ``status`` says what a segment is: ``speech`` (a VAD utterance), ``no speech`` (audio in which
# the VAD found no speech: one segment over the whole input, no voice label), ``no audio`` (a
# video without an audio stream: one segment over the whole video, face only), ``whole input``
# (the voice was not asked for: one segment over the whole input).


@dataclass(frozen=True)
class VoiceSegment:
    """One utterance and the voice model's answer for it (``voice`` over the model's labels).

    ``voice`` is None when the utterance could not be scored; ``note`` says why (e.g. NaN or
    infinite samples in the audio, or a non-finite model output)."""

    start_ms: float
    end_ms: float
    speech_prob: float  # mean VAD speech probability inside the utterance
    voice: Expression | None
    note: str = ""


@dataclass(frozen=True)
class SpeechResult:
    """Everything found in one audio input; ``segments`` is empty when there is no speech."""

    source: str
    duration_ms: float
    segments: tuple[VoiceSegment, ...] = ()
    model: str = ""
    source_rate: int = 0  # sample rate of the input before resampling to 16 kHz
    note: str = ""  # e.g. "no speech"


@dataclass(frozen=True)
class SegmentResult:
    """One speech segment (and one face track, when faces were seen): each modality's
    distribution (None when it gave no vote) and the fused one over the canonical labels."""

    source: str
    start_ms: float
    end_ms: float
    track: int | None
    status: str
    speech_prob: float | None = None
    voice: Expression | None = None  # voice model labels (RAVDESS set, with ``calm``)
    face: Expression | None = None  # face model labels, averaged over the segment's frames
    face_frames: int = 0  # analysed frames of this track inside the segment
    text: Expression | None = None  # canonical labels
    fused: Expression | None = None  # canonical labels; None when no modality voted
    modalities: tuple[str, ...] = ()
    note: str = ""


# -- text and errors ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextItemResult:
    """One text of an input: a text argument, a line of a text file or a transcript segment
    (``start_ms``/``end_ms``/``speaker`` set for transcript segments), and the text model's
    answer for it (:class:`~affectlens.models.text.TextResult`)."""

    source: str
    index: int
    result: object  # affectlens.models.text.TextResult
    start_ms: float | None = None
    end_ms: float | None = None
    speaker: str | None = None


@dataclass(frozen=True)
class InputFailure:
    """An input that could not be analysed (or not to the end): ``reason`` is the one line
    users see (it names the input). ``partial`` is true when results of this input were
    yielded before it failed (e.g. a truncated video)."""

    source: str
    reason: str
    partial: bool = False
