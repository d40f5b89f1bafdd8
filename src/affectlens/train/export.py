"""Export a trained checkpoint to ONNX plus the registry config (``models.json``)."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import numpy as np

from affectlens.labels import CANONICAL, FER2013_LABELS
from affectlens.train.config import TrainConfig
from affectlens.train.loop import MEAN, STD, _torch

log = logging.getLogger(__name__)

INPUT = "crop"
OUTPUTS = ("ferplus_logits", "fer2013_logits")


def export_onnx(checkpoint: Path, onnx_path: Path) -> TrainConfig:
    """Write the EMA weights of ``checkpoint`` as ONNX (dynamic batch); return its training config."""
    torch = _torch()
    from affectlens.train.model import ExpressionNet

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    cfg = TrainConfig(**state["config"])
    model = ExpressionNet(cfg.net_size, cfg.dropout, pretrained=False)
    model.load_state_dict(state["ema"])
    model.eval()
    dummy = torch.zeros(2, 1, cfg.crop_size, cfg.crop_size)  # batch 2: a size-1 axis would be fixed
    onnx_path = Path(onnx_path)
    onnx_path.parent.mkdir(parents=True, exist_ok=True)
    torch_onnx_export(model, dummy, onnx_path, [INPUT], list(OUTPUTS), dynamic_axes=(0,))
    _check(model, onnx_path, cfg)
    return cfg


def torch_onnx_export(
    net, dummy, path: Path, input_names: list[str], output_names: list[str], dynamic_axes: tuple[int, ...]
) -> None:
    """``torch.onnx.export`` with torch's supported exporter (``torch.export``-based, opset 18),
    weights inside the one file (a model folder or a copied file then needs nothing beside it).

    ``dynamic_axes``: the axes of the single input that may vary (``dummy`` must not have size 1
    on them). Quiet: torch's own log lines about optional torchvision ops are hidden, and so is
    the FutureWarning that torch's exporter raises inside torch (pytree ``LeafSpec``).
    """
    torch = _torch()
    shapes = ({axis: torch.export.Dim.DYNAMIC for axis in dynamic_axes},)
    torch_log = logging.getLogger("torch.onnx")
    level = torch_log.level
    torch_log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)", category=FutureWarning)
            torch.onnx.export(
                net,
                (dummy,),
                str(path),
                input_names=input_names,
                output_names=output_names,
                opset_version=18,
                dynamic_shapes=shapes,
                dynamo=True,
                external_data=False,  # one self-contained file, not the graph beside a .onnx.data
                verbose=False,
            )
    finally:
        torch_log.setLevel(level)


def _check(model, onnx_path: Path, cfg: TrainConfig) -> None:
    """The ONNX file must reproduce the torch model's logits."""
    from affectlens.models.runtime import onnx_session

    torch = _torch()
    x = np.random.default_rng(0).normal(size=(3, 1, cfg.crop_size, cfg.crop_size)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x))[0].numpy()
    got = onnx_session(onnx_path, threads=1).run([OUTPUTS[0]], {INPUT: x})[0]
    err = float(np.abs(ref - got).max())
    if err > 1e-3:
        raise RuntimeError(f"{onnx_path}: ONNX output differs from torch by {err:.2e}")


def model_configs(
    name: str, onnx_file: str, cfg: TrainConfig, template, metrics: dict | None = None, card: str = "MODEL_CARD.md"
) -> list[dict]:
    """Registry entries for the two heads of one exported network.

    ``name`` is the FER+ (8-class) model; the FER2013 (7-class) head is registered as
    ``fer2013-<backbone part of name>``, e.g. ``ferplus-lite0`` → ``fer2013-lite0``.
    """
    name7 = fer2013_name(name)
    metrics = metrics or {}
    common = {
        "kind": "expression",
        "file": onnx_file,
        "input_size": cfg.crop_size,
        "colour": "gray",
        "mean": [MEAN],
        "std": [STD],
        "template": [[round(float(x), 3), round(float(y), 3)] for x, y in template],
        "temperature": 1.0,
        "flip_tta": False,
        "licence": "Apache-2.0 (weights trained by affectlens on FER2013 + FER+ labels; see model card)",
        "card": card,
    }
    return [
        {
            "name": name,
            "output": OUTPUTS[0],
            "labels": list(CANONICAL),
            "description": "8 FER+ expressions (EfficientNet-Lite0, 48x48 grey crops)",
            "metrics": metrics.get(name, {}),
            **common,
        },
        {
            "name": name7,
            "output": OUTPUTS[1],
            "labels": list(FER2013_LABELS),
            "description": "7 original FER2013 expressions (second head of the same network)",
            "metrics": metrics.get(name7, {}),
            **common,
        },
    ]


def fer2013_name(name: str) -> str:
    return "fer2013-" + name.split("-", 1)[1] if name.startswith("ferplus-") else f"{name}-fer2013"


def write_models_json(folder: Path, entries: list[dict], default: str | None) -> Path:
    """``models.json`` of a registry folder; ``default``: the entry that becomes the registry's
    default model (None: the folder claims none)."""
    path = Path(folder) / "models.json"
    data = {"default": default, "models": entries} if default else {"models": entries}
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
