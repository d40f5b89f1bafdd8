"""The one options tree of a run: frozen, validated at construction, nested by stage.

Every default lives here, once. The command line is generated from this tree (each field's
``Parameter`` gives its flag, the string under it its help), :func:`affectlens.run` and the
conveniences take it, and it reads from and writes to a plain dict or TOML file, so a run can
be saved and repeated exactly::

    from affectlens import Options
    opts = Options().replace(fps=5, smooth="none", vad_threshold=0.6)   # by flag name
    opts.detection.threshold, opts.video.sampling.fps                   # by stage
    Options.from_dict(opts.to_dict()) == opts                           # round trip
    opts.save("run.toml"); Options.load("run.toml")

Stages: ``detection`` (face detector), ``face`` (expression model, face mesh), ``video``
(``sampling``, ``tracking``, ``smoothing``, shot cuts, workers), ``voice`` (speech model,
``vad``), ``text`` (text model, language check, transcript), ``fusion``; ``modalities`` says
which of face, voice and text run (None: every one the input has). What to write where is
:class:`OutputOptions`, kept beside the tree (it never changes a result).
"""

from __future__ import annotations

import dataclasses
import tomllib
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from cyclopts import Group, Parameter

#: The modalities a run can use.
MODALITIES = ("face", "voice", "text")
CROP_MODES = ("detect", "face")
MESH_MODES = ("auto", "on", "off")
SMOOTHING_METHODS = ("none", "ema", "oneeuro")

# Field annotations name the command-line flag where it differs from the field name; the
# groups order the help.
_ORDER = (
    "Modalities",
    "Detection",
    "Face",
    "Video",
    "Video tracking",
    "Video smoothing",
    "Voice",
    "Text",
    "Fusion",
    "Output",
    "Run",
)
GROUPS = {name: Group(name, sort_key=i) for i, name in enumerate(_ORDER)}


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


# -- detection --------------------------------------------------------------------------------
@Parameter(name="*", group=GROUPS["Detection"])
@dataclass(frozen=True)
class DetectionOptions:
    """Where the faces are."""

    threshold: float = 0.7
    """Face detector score threshold, 0 to 1."""
    min_face: Annotated[int, Parameter(name="--min-face")] = 20
    """Skip faces whose box is smaller than PX pixels (shorter side)."""
    size: Annotated[int | None, Parameter(name="--detect-size")] = None
    """Longest image side the detector sees (default: photos up to 1280 px; video frames half their longest side, 320 to 640 px). Larger finds smaller faces, slower."""
    crop_mode: Annotated[Literal["detect", "face"], Parameter(name="--crop-mode")] = "detect"
    """detect: find faces; face: each image is one already-cropped face."""
    detector: Annotated[str, Parameter(show=False, parse=False)] = "yunet"

    def __post_init__(self) -> None:
        _check(0.0 <= self.threshold <= 1.0, f"threshold must be in [0, 1], got {self.threshold}")
        _check(self.min_face >= 0, f"min_face must be >= 0 pixels, got {self.min_face}")
        _check(self.size is None or self.size >= 320, f"detect size must be >= 320 pixels, got {self.size}")
        _check(
            self.crop_mode in CROP_MODES, f"crop_mode {self.crop_mode!r} is not valid; valid: {', '.join(CROP_MODES)}"
        )


# -- face: expression model and face mesh -------------------------------------------------------
@Parameter(name="*", group=GROUPS["Face"])
@dataclass(frozen=True)
class FaceOptions:
    """Which expression model, and whether the face mesh (pose, action units, rationale) runs."""

    model: str | None = None
    """Expression model name (see 'affectlens models'; default: the default model)."""
    mesh: Annotated[Literal["auto", "on", "off"], Parameter(name=["--mesh", "--landmarks"])] = "auto"
    """Face mesh -> head pose, action units, rationale. auto: when it can load; on: required; off: skip."""
    au_baseline: Annotated[bool, Parameter(name="--au-baseline", negative="")] = False
    """Video: measure action units against each track's own neutral face."""

    def __post_init__(self) -> None:
        _check(self.mesh in MESH_MODES, f"mesh {self.mesh!r} is not valid; valid: {', '.join(MESH_MODES)}")


# -- video: sampling, tracking, smoothing ---------------------------------------------------------
@Parameter(name="*", group=GROUPS["Video"])
@dataclass(frozen=True)
class Sampling:
    """Which frames to analyse: ``fps`` (at most this many per second, by timestamp) or
    ``every`` (every N-th decoded frame), within ``[start, end)`` seconds."""

    fps: float | None = None
    """Analyse at most F frames per second."""
    every: int = 1
    """Analyse every N-th frame."""
    start: float = 0.0
    """Start at S seconds."""
    end: float | None = None
    """Stop at S seconds."""

    def __post_init__(self) -> None:
        _check(self.fps is None or self.fps > 0, f"fps must be > 0 frames per second, got {self.fps}")
        _check(self.every >= 1, f"every must be >= 1 frame, got {self.every}")
        _check(self.fps is None or self.every == 1, "give either fps or every, not both")
        _check(self.start >= 0, f"start must be >= 0 seconds, got {self.start}")
        _check(self.end is None or self.end > self.start, f"end ({self.end} s) must be after start ({self.start} s)")


@Parameter(name="*", group=GROUPS["Video tracking"])
@dataclass(frozen=True)
class TrackerOptions:
    """How faces are associated from frame to frame."""

    max_age_ms: Annotated[float, Parameter(name="--max-age")] = 1000.0
    """A track survives MS milliseconds without its face."""
    max_centre_dist: float = 1.0
    """Largest centre distance for a match, in face sizes."""
    speed_allowance: float = 2.0
    """Face sizes per second the match distance grows while a track is unseen."""
    max_size_ratio: float = 1.8
    """Largest size ratio between matched boxes."""
    max_appearance_dist: float = 0.5
    """Largest appearance distance for a match (1 - cosine similarity)."""
    w_motion: float = 1.0
    """Weight of the motion cost."""
    w_appearance: float = 1.0
    """Weight of the appearance cost."""

    def __post_init__(self) -> None:
        for name in ("max_age_ms", "max_centre_dist", "max_appearance_dist", "w_motion", "w_appearance"):
            _check(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        _check(self.max_size_ratio >= 1, f"max_size_ratio must be >= 1, got {self.max_size_ratio}")


@Parameter(name="*", group=GROUPS["Video smoothing"])
@dataclass(frozen=True)
class SmoothingOptions:
    """Temporal smoothing of each track's probabilities (see :mod:`affectlens.pipeline.smoothing`)."""

    method: Annotated[Literal["none", "ema", "oneeuro"], Parameter(name="--smooth")] = "ema"
    """Temporal smoothing of each track's probabilities."""
    ema_ms: float = 200.0
    """ema: time constant in ms (after it an old value weighs 1/e)."""
    min_cutoff: float = 1.0
    """oneeuro: minimum cutoff in Hz."""
    beta: float = 0.5
    """oneeuro: speed coefficient."""
    d_cutoff: float = 1.0
    """oneeuro: cutoff of the derivative in Hz."""

    def __post_init__(self) -> None:
        _check(
            self.method in SMOOTHING_METHODS,
            f"smoothing {self.method!r} is not valid; valid: {', '.join(SMOOTHING_METHODS)}",
        )
        for name in ("ema_ms", "min_cutoff", "d_cutoff"):
            _check(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)}")
        _check(self.beta >= 0, f"beta must be >= 0, got {self.beta}")


@Parameter(name="*", group=GROUPS["Video"])
@dataclass(frozen=True)
class VideoOptions:
    """How a video is sampled, tracked and smoothed."""

    sampling: Sampling = field(default_factory=Sampling)
    tracking: TrackerOptions = field(default_factory=TrackerOptions)
    smoothing: SmoothingOptions = field(default_factory=SmoothingOptions)
    cut_threshold: float | None = 0.04
    """Colour-histogram distance that counts as a shot cut, ending every track."""
    workers: int | None = None
    """Threads that analyse frames in parallel (default: one per core, at most 4)."""
    detect_every: int = 10
    """Run the face detector every N analysed frames (and whenever a face is lost, faces cross, the shot cuts or analysed frames are more than 70 ms apart); in between the face mesh follows the faces found. 1: detect on every frame."""
    occlusion_check_ms: Annotated[float, Parameter(name="--occlusion-every")] = 300.0
    """Re-run the occlusion check's extra classifier passes for each face every MS milliseconds (0: every frame); in between a face keeps its track's last reading. A face is always checked when it appears."""
    live: Annotated[bool, Parameter(show=False, parse=False)] = False

    def __post_init__(self) -> None:
        _check(self.workers is None or self.workers >= 1, f"workers must be >= 1, got {self.workers}")
        _check(self.detect_every >= 1, f"detect_every must be >= 1, got {self.detect_every}")
        _check(self.occlusion_check_ms >= 0, f"occlusion_check_ms must be >= 0, got {self.occlusion_check_ms}")
        _check(
            self.cut_threshold is None or 0 < self.cut_threshold <= 1,
            f"cut_threshold must be in (0, 1], got {self.cut_threshold}",
        )


# -- voice -------------------------------------------------------------------------------------------
@Parameter(name="*", group=GROUPS["Voice"])
@dataclass(frozen=True)
class VadOptions:
    """How speech probabilities become utterances (see :mod:`affectlens.detect.vad`)."""

    threshold: Annotated[float, Parameter(name="--vad-threshold")] = 0.5
    """Speech probability that starts an utterance."""
    min_speech_ms: Annotated[float, Parameter(name="--min-speech")] = 250.0
    """Drop utterances shorter than MS milliseconds."""
    min_silence_ms: Annotated[float, Parameter(name="--min-silence")] = 300.0
    """A pause must last MS milliseconds to split utterances."""
    pad_ms: Annotated[float, Parameter(name="--vad-pad")] = 60.0
    """Widen each utterance by MS milliseconds on both sides."""
    max_segment_ms: Annotated[float, Parameter(name="--max-segment")] = 10000.0
    """Cut utterances longer than MS milliseconds into equal parts."""

    def __post_init__(self) -> None:
        _check(0.15 < self.threshold < 1, f"VAD threshold must be in (0.15, 1), got {self.threshold}")
        for name in ("min_speech_ms", "min_silence_ms", "pad_ms"):
            _check(getattr(self, name) >= 0, f"VAD {name} must be >= 0 ms, got {getattr(self, name)}")
        _check(self.max_segment_ms >= 500, f"VAD max_segment_ms must be >= 500 ms, got {self.max_segment_ms}")


@Parameter(name="*", group=GROUPS["Voice"])
@dataclass(frozen=True)
class VoiceOptions:
    """Which speech model, and how utterances are found."""

    model: Annotated[str | None, Parameter(name="--speech-model")] = None
    """Speech emotion model name (default: chosen by the audio's band)."""
    vad: VadOptions = field(default_factory=VadOptions)


# -- text --------------------------------------------------------------------------------------------
@Parameter(name="*", group=GROUPS["Text"])
@dataclass(frozen=True)
class TextOptions:
    """Which text model, the language check, and the transcript of an audio or video input."""

    model: Annotated[str | None, Parameter(name="--text-model")] = None
    """Text emotion model name (default: the default text model)."""
    language_check: Annotated[bool, Parameter(name="--language-check", negative="--no-language-check")] = True
    """Refuse confidently non-English text ('unsupported language')."""
    transcript: Annotated[str | None, Parameter(name="--transcript")] = None
    """Transcript of the audio (.srt, .vtt or .json) for the text modality."""
    context: Annotated[int, Parameter(show=False, parse=False)] = 2

    def __post_init__(self) -> None:
        _check(self.context >= 0, f"text context must be >= 0 segments, got {self.context}")


# -- fusion --------------------------------------------------------------------------------------------
@Parameter(name="*", group=GROUPS["Fusion"])
@dataclass(frozen=True)
class FusionOptions:
    """``weights``: explicit weight per modality (face, voice, text), overriding the measured
    reliabilities (config file only); ``min_face_frames``: a face track needs at least this many
    analysed frames inside a segment to vote."""

    weights: Annotated[dict, Parameter(show=False, parse=False)] = field(default_factory=dict)
    min_face_frames: int = 1
    """A face track needs N analysed frames inside a speech segment to vote."""

    def __post_init__(self) -> None:
        bad = set(self.weights) - set(MODALITIES)
        _check(not bad, f"unknown modality {sorted(bad)} in fusion weights; valid: {', '.join(MODALITIES)}")
        for m, w in self.weights.items():
            _check(w >= 0, f"fusion weight of {m} must be >= 0, got {w}")
        _check(self.min_face_frames >= 1, f"min_face_frames must be >= 1, got {self.min_face_frames}")


def parse_modalities(value) -> tuple[str, ...] | None:
    """``"face,voice"`` → ``("face", "voice")``; None means every modality the input has."""
    if value is None:
        return None
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    bad = [v for v in items if v not in MODALITIES]
    _check(not bad and bool(items), f"unknown modality {', '.join(bad) or '(none)'}; valid: {', '.join(MODALITIES)}")
    return tuple(dict.fromkeys(items))


def _modalities_flag(_hint, tokens) -> tuple[str, ...] | None:
    return parse_modalities(",".join(t.value for t in tokens))


# -- the tree ---------------------------------------------------------------------------------------
@Parameter(name="*")
@dataclass(frozen=True)
class Options:
    """Everything that decides a run's results (see the module docstring)."""

    modalities: Annotated[
        tuple[str, ...] | None,
        Parameter(
            name="--modalities",
            converter=_modalities_flag,
            negative_iterable=(),
            consume_multiple=False,
            group=GROUPS["Modalities"],
        ),
    ] = None
    """Comma-separated subset of face,voice,text (default: every modality the input has)."""
    detection: DetectionOptions = field(default_factory=DetectionOptions)
    face: FaceOptions = field(default_factory=FaceOptions)
    video: VideoOptions = field(default_factory=VideoOptions)
    voice: VoiceOptions = field(default_factory=VoiceOptions)
    text: TextOptions = field(default_factory=TextOptions)
    fusion: FusionOptions = field(default_factory=FusionOptions)

    def __post_init__(self) -> None:
        object.__setattr__(self, "modalities", parse_modalities(self.modalities))

    # -- flat access by flag name -------------------------------------------------------------
    def replace(self, **flat) -> Options:
        """A copy with fields changed by their flag name (``fps=5``, ``threshold=0.6``,
        ``vad_threshold=0.6``, ``smooth="none"``, ``model="fer2013-lite0"``); an unknown name's
        error lists the valid ones."""
        paths = flag_paths()
        unknown = sorted(set(flat) - set(paths))
        _check(not unknown, f"unknown option(s) {', '.join(unknown)}; valid: {', '.join(sorted(paths))}")
        tree = self.to_dict()
        for key, value in flat.items():
            *parents, leaf = paths[key]
            node = tree
            for p in parents:
                node = node[p]
            node[leaf] = list(value) if isinstance(value, tuple) else value
        return Options.from_dict(tree)

    # -- dict and TOML ----------------------------------------------------------------------------
    def to_dict(self) -> dict:
        """A plain nested dict (TOML-ready: None values are left out)."""
        return _drop_none(dataclasses.asdict(self))

    @classmethod
    def from_dict(cls, data: dict) -> Options:
        """Build (and validate) from a nested dict; unknown keys are an error naming them."""
        return _build(cls, data or {}, "")

    def save(self, path: str | Path) -> Path:
        """Write the tree as TOML (``affectlens analyze --config`` reads it back)."""
        path = Path(path)
        path.write_text(to_toml(self.to_dict()), encoding="utf-8")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Options:
        """Read a TOML file written by :meth:`save` (or by hand)."""
        try:
            data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"--config {path}: cannot read it: {exc}") from None
        data.pop("outputs", None)  # written by the CLI beside the options; not part of results
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"--config {path}: {exc}") from None


@Parameter(name="*", group=GROUPS["Output"])
@dataclass(frozen=True)
class OutputOptions:
    """What to write where; never changes a result."""

    json: Annotated[bool, Parameter(negative="")] = False
    """Print one JSON object per result line on stdout."""
    out: Annotated[str | None, Parameter(name="--out")] = None
    """Write all records to FILE (.csv, .jsonl or .parquet); speech segments go to FILE-segments.EXT."""
    annotate: Annotated[str | None, Parameter(name="--annotate")] = None
    """Write each image (and each video as <name>.mp4) with boxes and labels drawn into DIR; or one video to FILE.mp4."""
    annotate_detail: Annotated[Literal["compact", "full"], Parameter(name="--annotate-detail")] = "compact"
    """Annotation labels: compact (label, confidence, ? when uncertain) or full (+ V/A, pose, AUs)."""
    explain: Annotated[str | None, Parameter(name="--explain")] = None
    """Write per face of each image a heatmap PNG and a JSON sidecar into DIR."""
    summary: Annotated[str | None, Parameter(name="--summary")] = None
    """Write one row per video face track to FILE (.csv or .json)."""
    timeline: Annotated[str | None, Parameter(name="--timeline")] = None
    """Plot each track's probabilities over time to FILE (.png or .html)."""
    quiet: Annotated[bool, Parameter(name=["--quiet", "-q"], negative="")] = False
    """No table on stdout."""


# -- helpers -----------------------------------------------------------------------------------------
def _drop_none(value):
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, tuple):
        return list(value)
    return value


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where or 'options'}: expected a table of options, got {type(data).__name__}")
    hints = typing.get_type_hints(cls, include_extras=False)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - names)
    _check(
        not unknown,
        f"unknown option(s) {', '.join(where + k for k in unknown)}; "
        f"valid: {', '.join(where + n for n in sorted(names))}",
    )
    kwargs: dict[str, Any] = {}
    for name, value in data.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = _build(hint, value, f"{where}{name}.")
        elif isinstance(value, list):
            kwargs[name] = tuple(value)
        else:
            kwargs[name] = value
    return cls(**kwargs)


def _flag_names(f: dataclasses.Field, hint) -> list[str]:
    """The flags of a leaf field as keyword names (``--min-face`` → ``min_face``), first the main one."""
    for meta in getattr(hint, "__metadata__", ()):
        if isinstance(meta, Parameter):
            if meta.parse is False:
                return [f.name]
            if meta.name:
                names = (meta.name,) if isinstance(meta.name, str) else meta.name
                return [n.lstrip("-").replace("-", "_") for n in names if n.startswith("--")]
    return [f.name]


def _leaves(cls, prefix: tuple[str, ...] = ()):
    hints = typing.get_type_hints(cls, include_extras=True)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        base = typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint
        if dataclasses.is_dataclass(base):
            yield from _leaves(base, prefix + (f.name,))
        else:
            for name in _flag_names(f, hint):
                yield name, prefix + (f.name,)


def flag_paths() -> dict[str, tuple[str, ...]]:
    """Flag name (``min_face``) → path in the tree (``("detection", "min_face")``)."""
    out: dict[str, tuple[str, ...]] = {}
    for flag, path in _leaves(Options):
        if flag in out:
            raise RuntimeError(f"option name {flag!r} is used twice in the options tree")  # a coding error
        out[flag] = path
    return out


def to_toml(data: dict, prefix: str = "") -> str:
    """A nested dict of scalars/lists as TOML text (tables after plain keys)."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{key} = {_toml_value(value)}")
    out = "\n".join(lines) + ("\n" if lines else "")
    for key, value in tables:
        name = f"{prefix}{key}"
        scalars = {k: v for k, v in value.items() if not isinstance(v, dict)}
        if scalars or not value:
            out += f"\n[{name}]\n"
        out += to_toml(value, f"{name}.")
    return out


def _toml_value(value) -> str:
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))
