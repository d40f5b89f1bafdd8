"""Register, list and create models by name; each model's configuration travels with its weights.

Built-in models live in ``affectlens/weights/<folder>/models.json`` (a list of configs) beside
their ONNX files and model cards. More can be added at run time with :func:`register_model`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

KINDS = ("expression",)
COLOURS = ("gray", "rgb")


@dataclass(frozen=True)
class ModelCfg:
    """Everything needed to run one set of weights, and what was measured about it."""

    name: str
    kind: str
    file: str  # ONNX file, relative to ``folder``
    output: str  # name of the ONNX output that holds this model's logits
    labels: tuple[str, ...]
    input_size: int  # square crop side in pixels
    colour: str  # "gray" or "rgb"
    mean: tuple[float, ...]  # per channel, in 0..255 units
    std: tuple[float, ...]
    template: tuple[tuple[float, float], ...]  # 5 landmarks in crop pixels
    temperature: float = 1.0  # logits are divided by this before softmax
    flip_tta: bool = False  # average the logits of the crop and its mirror image
    licence: str = ""
    description: str = ""
    card: str = ""  # model card file, relative to ``folder``
    metrics: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)  # abstention/compound, fitted on val (eval.abstention)
    folder: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"model {self.name!r}: unknown kind {self.kind!r}; valid: {', '.join(KINDS)}")
        if self.colour not in COLOURS:
            raise ValueError(f"model {self.name!r}: unknown colour {self.colour!r}; valid: {', '.join(COLOURS)}")
        channels = 1 if self.colour == "gray" else 3
        if len(self.mean) != channels or len(self.std) != channels:
            raise ValueError(f"model {self.name!r}: mean/std need {channels} value(s) for colour {self.colour}")
        if len(self.template) != 5:
            raise ValueError(f"model {self.name!r}: template needs 5 points, got {len(self.template)}")
        if self.temperature <= 0:
            raise ValueError(f"model {self.name!r}: temperature must be > 0, got {self.temperature}")

    @property
    def path(self) -> Path:
        return Path(self.folder) / self.file

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("folder")
        return d

    @classmethod
    def from_json(cls, data: dict, folder: Path) -> "ModelCfg":
        d = dict(data)
        d["labels"] = tuple(d["labels"])
        d["mean"], d["std"] = tuple(d["mean"]), tuple(d["std"])
        d["template"] = tuple(tuple(p) for p in d["template"])
        return cls(**d, folder=str(folder))


_REGISTRY: dict[str, ModelCfg] = {}
_DEFAULT: list[str] = []
_LOADED = False


def register_model(cfg: ModelCfg, default: bool = False) -> None:
    _REGISTRY[cfg.name] = cfg
    if default:
        _DEFAULT[:] = [cfg.name]


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
    _load_builtin()
    return [c for c in _REGISTRY.values() if kind is None or c.kind == kind]


def default_model_name() -> str:
    _load_builtin()
    if not _DEFAULT:
        raise LookupError("no default model is registered (affectlens/weights/*/models.json is missing)")
    return _DEFAULT[0]


def get_model_cfg(name: str | None = None) -> ModelCfg:
    _load_builtin()
    name = name or default_model_name()
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(sorted(_REGISTRY)) or 'none'}")
    return _REGISTRY[name]
