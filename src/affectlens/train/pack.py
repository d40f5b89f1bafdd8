"""Turn a checkpoint into a registry folder: ONNX weights + ``models.json`` (+ the training log)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from affectlens.eval.calibration import fit_temperature
from affectlens.eval.datasets.fer2013 import USAGE, ferplus_majority, read_fer2013, read_ferplus_votes
from affectlens.train.export import INPUT, OUTPUTS, export_onnx, model_configs, write_models_json
from affectlens.train.loop import MEAN, STD
from affectlens.train.template import estimate_template

log = logging.getLogger(__name__)


def pack_model(checkpoint: Path, root, folder: Path, name: str, metrics: dict | None = None,
               template_sample: int = 2000) -> Path:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx_file = f"{name}.onnx"
    cfg = export_onnx(checkpoint, folder / onnx_file)
    _, pixels, usage = read_fer2013(root)
    template, n = estimate_template(pixels[usage == USAGE["train"]], sample=template_sample)
    log.info("alignment template measured on %d training crops", n)
    entries = model_configs(name, onnx_file, cfg, template, metrics)
    for entry, temperature in zip(entries, fit_temperatures(folder / onnx_file, root)):
        entry["temperature"] = round(temperature, 4)
    write_models_json(folder, entries, default=name)
    return folder


def fit_temperatures(onnx_path: Path, root) -> tuple[float, float]:
    """Temperatures of the FER+ and FER2013 heads, fitted on the validation split (PublicTest).

    The FER+ head is fitted against FER+ majority labels (the stated rule), the FER2013 head
    against FER2013 labels. PrivateTest is not touched.
    """
    import onnxruntime as ort

    emotion, pixels, usage = read_fer2013(root)
    votes, has_name, _ = read_ferplus_votes(root)
    val = usage == USAGE["val"]
    x = ((pixels[val].astype(np.float32) - MEAN) / STD)[:, None]
    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    l8, l7 = (np.concatenate(parts) for parts in zip(*(
        sess.run(list(OUTPUTS), {INPUT: x[i : i + 512]}) for i in range(0, len(x), 512))))
    major = ferplus_majority(votes, has_name)[val]
    ok = major >= 0
    t8 = fit_temperature(l8[ok], major[ok])
    t7 = fit_temperature(l7, emotion[val].astype(np.int64))
    log.info("temperatures fitted on PublicTest: FER+ head %.3f, FER2013 head %.3f", t8, t7)
    return t8, t7
