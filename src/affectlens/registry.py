"""Register, list and create models by name; each model's configuration travels with its weights.

Built-in models live in ``affectlens/weights/<folder>/models.json`` (a list of configs) beside
their ONNX files and model cards. More can be added at run time with :func:`register_model`.
Thresholds and temperature fitted on this machine (``affectlens calibrate --write``) are read on
top of the shipped config from a user folder (:mod:`affectlens.overrides`);
:func:`override_source` says which file a model's overrides come from.

:func:`create` returns a model's loaded runner (:class:`~affectlens.models.expression.ExpressionModel`,
:class:`~affectlens.models.speech.SpeechModel`, :class:`~affectlens.models.text.TextEmotionModel`),
built once and kept in the package's one cache of loaded objects (:func:`cached`), which
:func:`clear_cache` empties.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from affectlens import overrides

#: Model kinds: ``expression`` (face crops, ONNX), ``speech`` (16 kHz utterances, as acoustic
#: feature vectors or power spectrograms, ONNX) and ``text`` (see TEXT_ENGINES).
KINDS = ("expression", "speech", "text")
#: How a text model runs: ``tfidf`` (TF-IDF n-grams + linear weights in one npz, numpy),
#: ``transformer`` (an ONNX encoder + classifier fed by a ``tokenizers`` tokenizer file) or
#: ``ensemble`` (a weighted mix of registered text models, no file of its own).
TEXT_ENGINES = ("tfidf", "transformer", "ensemble")
#: How an ensemble text model mixes its members' probabilities (affectlens.models.text_ensemble).
MIXES = ("linear", "loglinear")
COLOURS = ("gray", "rgb")
#: Speech models' audio band: full (0-8 kHz), narrow (0-4 kHz, telephone) or any (both).
BANDS = ("full", "narrow", "any")
#: What a speech model's ONNX file takes: ``features`` (one acoustic feature vector per utterance,
#: :func:`~affectlens.models.speech.acoustic_features`) or ``spectrogram`` (the utterance's power
#: spectrogram, :func:`~affectlens.models.speech.power_spectrogram`).
SPEECH_INPUTS = ("features", "spectrogram")


@dataclass(frozen=True)
class ModelCfg:
    """Everything needed to run one set of weights, and what was measured about it."""

    name: str
    kind: str
    file: str  # weights file (ONNX, or npz for tfidf text models), relative to ``folder``
    labels: tuple[str, ...]
    output: str = ""  # expression: name of the ONNX output that holds this model's logits
    quantized_from: str = ""  # the float32 file ``file`` was quantised from (same network), if any
    input_size: int = 0  # expression: square crop side in pixels
    colour: str = "gray"  # expression: "gray" or "rgb"
    mean: tuple[float, ...] = ()  # expression: per channel, in 0..255 units
    std: tuple[float, ...] = ()
    template: tuple[tuple[float, float], ...] = ()  # expression: 5 landmarks in crop pixels
    temperature: float = 1.0  # logits are divided by this before softmax
    flip_tta: bool = False  # average the logits of the crop and its mirror image
    band: str = ""  # speech: one of BANDS
    input: str = "features"  # speech: one of SPEECH_INPUTS
    engine: str = "tfidf"  # text: one of TEXT_ENGINES
    tokenizer: str = ""  # text transformer: tokenizer.json, relative to ``folder``
    max_tokens: int = 0  # text transformer: tokens per row (text + context + special tokens)
    max_text_tokens: int = 0  # text transformer: tokens of the text itself (the context gets the rest)
    members: tuple[str, ...] = ()  # text ensemble: names of the registered text models it mixes
    member_weights: tuple[float, ...] = ()  # text ensemble: one weight per member, summing to 1
    mix: str = ""  # text ensemble: one of MIXES
    licence: str = ""
    description: str = ""
    card: str = ""  # model card file, relative to ``folder``
    metrics: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)  # abstention/compound, fitted on val (eval.abstention)
    quality_temperature: dict = field(default_factory=dict)  # expression: per-face temperature (models.quality)
    folder: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"model {self.name!r}: unknown kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.temperature <= 0:
            raise ValueError(f"model {self.name!r}: temperature must be > 0, got {self.temperature}")
        if self.kind == "expression":
            self._check_expression()
        if self.kind == "text":
            self._check_text()
        if self.kind == "speech" and self.band not in BANDS:
            raise ValueError(f"model {self.name!r}: speech band must be one of {', '.join(BANDS)}, got {self.band!r}")
        if self.kind == "speech" and self.input not in SPEECH_INPUTS:
            raise ValueError(
                f"model {self.name!r}: speech input must be one of {', '.join(SPEECH_INPUTS)}, got {self.input!r}"
            )

    def _check_expression(self) -> None:
        if not self.output or self.input_size <= 0:
            raise ValueError(f"model {self.name!r}: an expression model needs output and input_size")
        if self.colour not in COLOURS:
            raise ValueError(f"model {self.name!r}: unknown colour {self.colour!r}; valid: {', '.join(COLOURS)}")
        channels = 1 if self.colour == "gray" else 3
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"model {self.name!r}: mean/std need {channels} value(s) for colour {self.colour}")
        if len(self.template) != 5:
            raise ValueError(f"model {self.name!r}: template needs 5 points, got {len(self.template)}")
        if self.quality_temperature or not isinstance(self.quality_temperature, dict):
            from affectlens.models.quality import QualityTemperature

            QualityTemperature.from_config(self.quality_temperature, self.name)

    def _check_text(self) -> None:
        if self.engine not in TEXT_ENGINES:
            raise ValueError(
                f"model {self.name!r}: text engine must be one of {', '.join(TEXT_ENGINES)}, got {self.engine!r}"
            )
        if self.engine == "transformer" and (
            not self.tokenizer or self.max_text_tokens <= 0 or self.max_tokens < self.max_text_tokens + 2
        ):
            raise ValueError(
                f"model {self.name!r}: a transformer text model needs tokenizer, max_text_tokens > 0 "
                f"and max_tokens >= max_text_tokens + 2"
            )
        if self.engine == "ensemble":
            self._check_ensemble()

    def _check_ensemble(self) -> None:
        if len(self.members) < 2 or len(self.member_weights) != len(self.members):
            raise ValueError(f"model {self.name!r}: an ensemble text model needs >= 2 members and one weight each")
        if min(self.member_weights) < 0 or abs(sum(self.member_weights) - 1) > 1e-6:
            raise ValueError(
                f"model {self.name!r}: member_weights must be >= 0 and sum to 1, got {self.member_weights}"
            )
        if self.mix not in MIXES:
            raise ValueError(f"model {self.name!r}: mix must be one of {', '.join(MIXES)}, got {self.mix!r}")

    @property
    def path(self) -> Path:
        return Path(self.folder) / self.file

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("folder")
        return d

    @classmethod
    def from_json(cls, data: dict, folder: Path) -> ModelCfg:
        d = dict(data)
        d["labels"] = tuple(d["labels"])
        d["mean"], d["std"] = tuple(d.get("mean", ())), tuple(d.get("std", ()))
        d["template"] = tuple(tuple(p) for p in d.get("template", ()))
        d["members"], d["member_weights"] = tuple(d.get("members", ())), tuple(d.get("member_weights", ()))
        return cls(**d, folder=str(folder))


_REGISTRY: dict[str, ModelCfg] = {}
_DEFAULT: dict[str, str] = {}  # kind -> name of that kind's default model
_LOADED = False


def register_model(cfg: ModelCfg, default: bool = False) -> None:
    _REGISTRY[cfg.name] = cfg
    if default:
        _DEFAULT[cfg.kind] = cfg.name


def load_models_json(path: Path) -> list[ModelCfg]:
    data = json.loads(Path(path).read_text())
    cfgs = [ModelCfg.from_json(entry, Path(path).parent) for entry in data["models"]]
    for cfg in cfgs:
        register_model(cfg, default=cfg.name == data.get("default"))
    return cfgs


def _load_builtin() -> None:
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    root = Path(str(resources.files("affectlens") / "weights"))
    for path in sorted(root.glob("*/models.json")):
        load_models_json(path)


def list_models(kind: str | None = None) -> list[ModelCfg]:
    """Every registered model (of ``kind``), with the user's overrides applied."""
    _load_builtin()
    return [_with_override(c) for c in _REGISTRY.values() if kind is None or c.kind == kind]


def default_model_name(kind: str = "expression") -> str:
    """The default model of ``kind``."""
    _load_builtin()
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(KINDS)}")
    if kind not in _DEFAULT:
        raise LookupError(f"no default {kind} model is registered (affectlens/weights/*/models.json is missing)")
    return _DEFAULT[kind]


def get_model_cfg(name: str | None = None, kind: str = "expression") -> ModelCfg:
    """The model ``name``, or the default model of ``kind`` if ``name`` is None."""
    _load_builtin()
    name = name or default_model_name(kind)
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY)) or 'none'}")
    cfg = _REGISTRY[name]
    if cfg.kind != kind:
        valid = ", ".join(c.name for c in list_models(kind)) or "none"
        raise ValueError(f"model {name!r} is of kind {cfg.kind!r}, not {kind!r}; {kind} models: {valid}")
    return _with_override(cfg)


def sibling_head(name: str | None, labels: tuple[str, ...]) -> str:
    """The expression model that is another head of ``name``'s network (same weights file and
    folder, or a quantised variant of the same file) and outputs exactly ``labels`` (in any
    order); ``name`` itself if it does, or if no head does. E.g. the default 8-class model's
    7-class FER2013 head for ``eval --dataset fer2013``."""
    cfg = get_model_cfg(name)
    if set(cfg.labels) == set(labels):
        return cfg.name

    def network(c: ModelCfg) -> tuple[str, str]:
        return (c.quantized_from or c.file, c.folder)

    for other in list_models("expression"):
        if network(other) == network(cfg) and set(other.labels) == set(labels):
            return other.name
    return cfg.name


# -- user overrides (thresholds, temperature) ---------------------------------------------------
_OVERRIDE_FILES: dict[str, Path] = {}  # model name -> override file named by load_overrides()


def load_overrides(path: str | Path) -> str:
    """Read the override file ``path`` for the model it names (instead of the user folder's file);
    returns that model's name."""
    path = Path(path)
    name = overrides.read_override(path)["name"]
    _load_builtin()
    if name not in _REGISTRY:
        raise ValueError(f"{path}: unknown model {name!r}; available: {', '.join(sorted(_REGISTRY)) or 'none'}")
    _OVERRIDE_FILES[name] = path
    return name


def override_source(name: str) -> Path | None:
    """The file whose values override model ``name``'s shipped config, or None (shipped config only):
    a file given to :func:`load_overrides`, else ``<user folder>/models/<name>.json`` if it exists."""
    if name in _OVERRIDE_FILES:
        return _OVERRIDE_FILES[name]
    path = overrides.override_path(name)
    return path if path.is_file() else None


def _with_override(cfg: ModelCfg) -> ModelCfg:
    path = override_source(cfg.name)
    if path is None:
        return cfg
    data = overrides.read_override(path)
    if data["name"] != cfg.name:
        raise ValueError(f"{path}: holds overrides of model {data['name']!r}, not {cfg.name!r}")
    changes: dict[str, Any] = {}
    if "thresholds" in data:
        changes["thresholds"] = {**cfg.thresholds, **data["thresholds"]}
    if "temperature" in data:
        changes["temperature"] = float(data["temperature"])
    return replace(cfg, **changes)


# -- the one cache of loaded models ---------------------------------------------------------------
#: Most loaded objects kept; the least recently used one is dropped past this.
CACHE_SIZE = 32
_CACHE: OrderedDict[tuple, Any] = OrderedDict()
_CACHE_LOCK = threading.RLock()
T = TypeVar("T")


def cached(key: tuple, build: Callable[[], T]) -> T:
    """The object kept under ``key``, made by ``build()`` the first time.

    The package's one cache of loaded models, sessions and analysers (thread-safe; at most
    :data:`CACHE_SIZE` objects). ``key`` starts with a string that says what the object is.
    """
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
        value = build()
        _CACHE[key] = value
        if len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
        return value


def clear_cache() -> None:
    """Forget every loaded object: the next :func:`create` (or :func:`cached`) loads it anew."""
    with _CACHE_LOCK:
        _CACHE.clear()


def create(name: str | None = None, kind: str = "expression", threads: int = 1, **options) -> Any:
    """The loaded runner of model ``name`` (the default model of ``kind`` if None), made once.

    ``threads``: onnxruntime intra-op threads (the numpy text model runs in the calling thread
    and ignores it). ``options`` go to the runner's constructor, e.g. ``check_language=False``
    for a text model. The same arguments (and the same effective config, overrides included)
    return the same object until :func:`clear_cache`.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown model kind {kind!r}; valid: {', '.join(KINDS)}")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1, got {threads!r}")
    cfg = get_model_cfg(name, kind)
    try:
        opts = tuple(sorted(options.items()))
        hash(opts)
    except TypeError:
        raise TypeError(f"create({cfg.name!r}): options must be hashable, got {options!r}") from None
    fingerprint = json.dumps(cfg.to_json(), sort_keys=True, default=str) + cfg.folder
    key = ("model", kind, cfg.name, threads if kind != "text" or cfg.engine != "tfidf" else None, opts, fingerprint)
    return cached(key, lambda: _construct(cfg, threads, options))


def _construct(cfg: ModelCfg, threads: int, options: dict) -> Any:
    if cfg.kind == "text":
        from affectlens.models.text import create_text_model

        if cfg.engine in ("transformer", "ensemble"):
            options = {**options, "threads": threads}
        return create_text_model(cfg, **options)
    if cfg.kind == "speech":
        from affectlens.models.speech import SpeechModel

        return SpeechModel(cfg, threads=threads, **options)
    from affectlens.models.expression import ExpressionModel

    return ExpressionModel(cfg, threads=threads, **options)
