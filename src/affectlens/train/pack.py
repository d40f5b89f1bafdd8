"""Turn a checkpoint into a registry folder: ONNX weights + ``models.json``.

Decisions made here use the validation split (PublicTest) only; PrivateTest stays untouched:
- the alignment template is measured on training crops (:mod:`affectlens.train.template`);
- mirror test-time augmentation (``flip_tta``) is switched on if it raises validation accuracy
  of the FER+ head;
- each head's softmax temperature is fitted on validation logits (temperature scaling), and
  its quality-aware temperature (:mod:`affectlens.models.quality`) on the validation faces plus
  one seeded degraded copy of each (:func:`fit_quality`);
- ``quantize`` (``int8``, ``int8-dynamic`` or ``float16``, :mod:`affectlens.train.quantize`):
  the variant is written beside the float32 file and the registry entries use it; the steps
  above then run on the variant itself. Keep a variant only if
  ``benchmarks/classifier_variants.py`` shows FER+ test accuracy within 0.3 points of float32.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from affectlens.eval.calibration import fit_quality_temperature, fit_temperature
from affectlens.eval.datasets.fer2013 import USAGE, VALIDATION_RULE, ferplus_labels, read_fer2013, read_ferplus_votes
from affectlens.eval.perturb import DEGRADATION_RANGES, random_degradations
from affectlens.models.expression import ExpressionModel
from affectlens.registry import ModelCfg
from affectlens.train.export import export_onnx, model_configs, write_models_json
from affectlens.train.template import estimate_template

log = logging.getLogger(__name__)


def pack_model(
    checkpoint: Path,
    root,
    folder: Path,
    name: str,
    metrics: dict | None = None,
    template_sample: int = 2000,
    quantize: str | None = None,
    default: bool = True,
) -> Path:
    """Export ``checkpoint`` into the registry folder ``folder``: the float32 ONNX file, the
    alignment template, mirror averaging if it helps, temperatures and quality-aware temperatures;
    with ``quantize``, then the variant of every entry as :func:`quantize_folder` makes it (its
    temperatures and ``uncertain`` thresholds re-fitted). ``default``: whether ``models.json``
    claims the registry's default for ``name`` (a second network shipped beside the default
    must not)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    onnx_file = f"{name}.onnx"
    cfg = export_onnx(checkpoint, folder / onnx_file)
    _, pixels, usage = read_fer2013(root)
    template, n = estimate_template(pixels[usage == USAGE["train"]], sample=template_sample)
    log.info("alignment template measured on %d training crops", n)
    entries = model_configs(name, onnx_file, cfg, template, metrics)
    flip = calibrate_entries(entries, folder, root)
    write_models_json(folder, entries, default=name if default else None)
    record = {"checkpoint": str(checkpoint), "template_crops": int(n), "flip_tta": flip}
    (folder / "pack.json").write_text(json.dumps(record, indent=2) + "\n")
    if quantize:
        quantize_folder(folder, root, quantize)
    return folder


def quantize_entries(entries: list[dict], folder: Path, root, variant: str) -> str:
    """Write the ``variant`` of the entries' ONNX file (calibrated on FER2013 training crops,
    preprocessed like the FER+ head's input) and point every entry at it; return its name."""
    from affectlens.train.quantize import quantize_classifier, training_crops

    src = folder / entries[0]["file"]
    dst = folder / f"{src.stem}-{variant}.onnx"
    model_cfg = ModelCfg.from_json(entries[0], folder)
    crops = training_crops(root) if variant == "int8" else None
    quantize_classifier(src, dst, variant, model_cfg, crops)
    for entry in entries:
        entry["file"], entry["quantized_from"] = dst.name, src.name
    return dst.name


def calibrate_entries(
    entries: list[dict], folder: Path, root, allow_flip: bool = True, flip: bool | None = None
) -> bool:
    """Set ``flip_tta``, each head's ``temperature`` and ``quality_temperature`` in ``entries`` from
    PublicTest; return the flip choice.

    ``entries`` are the FER+ head then the FER2013 head of one ONNX file in ``folder``; ``flip``
    fixes the mirror choice instead of measuring it.
    """
    emotion, pixels, usage = read_fer2013(root)
    votes, has_name, _ = read_ferplus_votes(root)
    val = usage == USAGE["val"]
    targets = [ferplus_labels(votes, has_name, VALIDATION_RULE)[val], emotion[val].astype(np.int64)]
    crops = pixels[val]
    if flip is None:
        flip = choose_flip(entries[0], folder, crops, targets[0]) if allow_flip else False
    degraded, _ = random_degradations(crops, entries[0]["template"], seed=QUALITY_SEED)
    for entry, y in zip(entries, targets):
        entry["flip_tta"] = flip
        entry.pop("quality_temperature", None)
        logits = _logits(entry, folder, crops)
        ok = y >= 0
        entry["temperature"] = round(fit_temperature(logits[ok], y[ok]), 4)
        log.info("%s: temperature %.3f fitted on %d PublicTest faces", entry["name"], entry["temperature"], ok.sum())
        entry["quality_temperature"] = fit_quality(entry, folder, crops[ok], degraded[ok], logits[ok], y[ok])
    return flip


#: Seed of the degraded copies of the validation faces the quality temperature is fitted on.
QUALITY_SEED = 0


def fit_quality(
    entry: dict, folder: Path, clean: np.ndarray, degraded: np.ndarray, clean_logits: np.ndarray, y: np.ndarray
) -> dict:
    """``entry``'s ``quality_temperature`` fitted on its clean validation faces and their
    degraded copies (:func:`~affectlens.eval.perturb.random_degradations`), around its
    ``temperature``."""
    logits = np.concatenate([clean_logits, _logits(entry, folder, degraded)])
    crops = np.concatenate([clean, degraded])
    is_clean = np.arange(len(crops)) < len(clean)
    fit = fit_quality_temperature(logits, np.concatenate([y, y]), crops, is_clean, entry["temperature"])
    ranges = "; ".join(f"{k} {v}" for k, v in DEGRADATION_RANGES.items())
    fit["fitted_on"] = (
        f"{len(clean)} PublicTest faces and one degraded copy of each (seed {QUALITY_SEED}, one of: {ranges})"
    )
    log.info("%s: quality temperature %s", entry["name"], fit)
    return fit


def _logits(entry: dict, folder: Path, crops: np.ndarray) -> np.ndarray:
    model = ExpressionModel(ModelCfg.from_json(entry, folder))
    return np.concatenate([model.forward(model.preprocess(crops[i : i + 512])) for i in range(0, len(crops), 512)])


def choose_flip(entry: dict, folder: Path, crops: np.ndarray, y: np.ndarray) -> bool:
    """True if averaging with the mirror image raises validation accuracy."""
    ok = y >= 0
    acc = {}
    for flip in (False, True):
        logits = _logits({**entry, "flip_tta": flip}, folder, crops[ok])
        acc[flip] = float((logits.argmax(1) == y[ok]).mean())
    log.info("validation accuracy without / with mirror TTA: %.4f / %.4f", acc[False], acc[True])
    return acc[True] > acc[False]


def quantize_folder(folder: Path, root, variant: str, names: list[str] | None = None) -> str:
    """Quantize a packed registry folder in place: the ``variant`` of its float32 ONNX file is
    written beside it and the entries ``names`` (default: all) point at it, with each one's
    temperature and quality-aware temperature re-fitted on PublicTest (the mirror choice is
    kept) and its ``uncertain`` and compound thresholds re-fitted as ``affectlens calibrate`` does. Other entries stay on the
    float32 file; ``metrics`` stay as they are (re-measure with ``benchmarks/accuracy.py``).
    Returns the variant's file name."""
    from affectlens.eval.abstention import fit_thresholds

    folder = Path(folder)
    data = json.loads((folder / "models.json").read_text())
    record_path = folder / "pack.json"
    record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    float_file = next(
        (e["quantized_from"] for e in data["models"] if e.get("quantized_from")), data["models"][0]["file"]
    )
    unknown = sorted(set(names or ()) - {e["name"] for e in data["models"]})
    if unknown:
        raise ValueError(f"{folder}: no model named {', '.join(unknown)} in models.json")
    chosen = [e for e in data["models"] if names is None or e["name"] in names]
    for entry in data["models"]:
        entry["file"] = float_file
        entry.pop("quantized_from", None)
    onnx_file = quantize_entries(chosen, folder, root, variant)
    fitted = [dict(e) for e in data["models"]]  # the FER+ head, then the FER2013 head
    calibrate_entries(fitted, folder, root, flip=bool(data["models"][0].get("flip_tta", False)))
    for entry, fit in zip(data["models"], fitted):
        if entry in chosen:
            entry["temperature"], entry["quality_temperature"] = fit["temperature"], fit["quality_temperature"]
    for entry in chosen:
        model = ExpressionModel(ModelCfg.from_json(entry, folder), threads=2)
        entry["thresholds"] = fit_thresholds(model, root=root)
    write_models_json(folder, data["models"], default=data.get("default"))
    record["quantized"] = {
        "variant": variant,
        "file": onnx_file,
        "float32_file": float_file,
        "models": [e["name"] for e in chosen],
    }
    record_path.write_text(json.dumps(record, indent=2) + "\n")
    return onnx_file


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m affectlens.train.pack",
        description="Quantize a packed expression model folder in place (see quantize_folder).",
    )
    p.add_argument("folder", type=Path, help="registry folder with models.json (e.g. src/affectlens/weights/lite0)")
    p.add_argument("--quantize", required=True, choices=("int8", "int8-dynamic", "float16"))
    p.add_argument("--models", nargs="+", default=None, help="quantize only these entries (default: all)")
    p.add_argument("--data-root", default=None, help="folder holding fer2013/ (default $AFFECTLENS_DATA)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    name = quantize_folder(args.folder, args.data_root, args.quantize, args.models)
    log.info("%s: %s now use %s", args.folder, ", ".join(args.models or ["all entries"]), name)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
