"""The training recipe as one plain dataclass, readable from and writable to JSON."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from importlib import resources
from pathlib import Path


@dataclass
class TrainConfig:
    """Everything that decides a training run. Defaults are the recipe of the shipped model."""

    name: str = "ferplus-lite0"
    backbone: str = "efficientnet-lite0"
    pretrained: bool = True
    crop_size: int = 48  # the face crop the model takes (grey, FER2013 framing)
    net_size: int = 80  # the crop is upsampled to this inside the network
    epochs: int = 20
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.1
    soft_labels: bool = True  # FER+ head learns the crowd vote distribution
    fer2013_weight: float = 1.0  # weight of the 7-class FER2013 head's loss
    dropout: float = 0.3
    ema_decay: float = 0.999
    occlusion_p: float = 0.35
    flip_p: float = 0.5
    max_rotation: float = 15.0
    max_scale: float = 0.15
    max_shift: float = 0.08
    blur_p: float = 0.0  # fraction of faces blurred (sigma 0.4-1.6 px)
    lowres_p: float = 0.0  # fraction shrunk to 12-32 px and back
    jpeg_p: float = 0.0  # fraction JPEG-compressed at quality 10-60
    class_weight_power: float = 0.0  # loss weight of a class = (mean count / its count) ** power
    fuse_fer2013: float = 0.0  # FER+ target = (1 - f) * votes + f * the FER2013 label (8-class)
    init_onnx: str = ""  # start from this ONNX export of the network (batch norms then frozen)
    teacher_onnx: tuple[str, ...] = ()  # distil from these ONNX networks (mean logits, onnxruntime)
    distill_weight: float = 0.0  # share of both heads' targets taken from the teachers' softmax
    seed: int = 0
    threads: int = 2
    limit_train: int = 0  # use only the first N training rows (0 = all), for quick runs
    limit_val: int = 0

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2) + "\n")

    @classmethod
    def load(cls, path: Path) -> TrainConfig:
        data = json.loads(Path(path).read_text())
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"{path}: unknown training option(s) {sorted(unknown)}; valid: {sorted(known)}")
        if "teacher_onnx" in data:
            data["teacher_onnx"] = tuple(data["teacher_onnx"])
        return cls(**data)


def model_file(path: str, field: str) -> Path:
    """An ONNX file a recipe names (``init_onnx``, ``teacher_onnx``): the path as given (absolute,
    or from the current folder), else, for a path written from the repository root
    (``src/affectlens/weights/...``, as in the shipped recipes), the same file of the imported
    package, so the recipes run from any folder and from an installed package."""
    p = Path(path)
    if p.is_file():
        return p
    if p.parts[:2] == ("src", "affectlens"):
        packaged = Path(str(resources.files("affectlens").joinpath(*p.parts[2:])))
        if packaged.is_file():
            return packaged
    raise FileNotFoundError(
        f"{field}: {path}: no such file (taken from the current folder {Path.cwd()}; "
        "src/affectlens/... also from the installed package)"
    )
