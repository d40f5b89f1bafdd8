"""``affectlens eval``, ``calibrate`` and ``train``: thin wrappers over the evaluation and
training code."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Annotated, Literal

from cyclopts import Parameter

log = logging.getLogger("affectlens")

DataRoot = Annotated[str | None, Parameter(name="--data-root", help="Data folder (default: $AFFECTLENS_DATA).")]


def eval_command(
    *,
    dataset: str,
    split: Literal["train", "val", "test"] = "test",
    model: str | None = None,
    crop_mode: Annotated[Literal["face", "detect"], Parameter(name="--crop-mode")] = "face",
    dedup: Annotated[bool, Parameter(negative="")] = False,
    data_root: DataRoot = None,
    json_: Annotated[bool, Parameter(name="--json", negative="")] = False,
    verbose: Annotated[bool, Parameter(name=["--verbose", "-v"], negative="")] = False,
) -> int:
    """Evaluate an expression model on a labelled data set.

    Examples:

        affectlens eval --dataset ferplus
        affectlens eval --dataset fer2013 --model fer2013-lite0 --dedup --json

    Parameters
    ----------
    dataset
        fer2013, ferplus (FER+ majority rule), ferplus:plurality, ferplus:argmax or folder:PATH.
    split
        train/val/test = Training/PublicTest/PrivateTest.
    model
        Expression model name (default: the default model). When another head of the same
        network outputs exactly the data set's labels (e.g. the 7 FER2013 classes), that head
        is scored.
    crop_mode
        face: each image is a face crop (data sets are; default); detect: find the face first.
    dedup
        Drop test images with a pixel-identical twin in the training split.
    json_
        Print one JSON object.
    """
    from affectlens.eval.datasets import load_dataset
    from affectlens.eval.protocol import evaluate, format_report
    from affectlens.options import Options
    from affectlens.pipeline.image import Analyzer
    from affectlens.registry import get_model_cfg, sibling_head

    fs = load_dataset(dataset, split=split, root=data_root, dedup=dedup)
    head = sibling_head(model, fs.label_names)
    if head != get_model_cfg(model).name:
        log.info("scoring %s with %s, the head of the same network that outputs its labels", fs.name, head)
    analyzer = Analyzer(Options().replace(model=head, crop_mode=crop_mode))
    report = evaluate(analyzer, fs, dedup=dedup)
    sys.stdout.write((json.dumps(report.to_json()) if json_ else format_report(report)) + "\n")
    return 0


def calibrate(
    *,
    model: str | None = None,
    data_root: DataRoot = None,
    write: Annotated[bool, Parameter(negative="")] = False,
    write_to: Annotated[Path | None, Parameter(name="--write-to")] = None,
    limit: int | None = None,
    verbose: Annotated[bool, Parameter(name=["--verbose", "-v"], negative="")] = False,
) -> int:
    """Fit a model's abstention and compound thresholds on the validation split.

    Examples:

        affectlens calibrate --limit 500
        affectlens calibrate --model fer2013-lite0 --write
      affectlens calibrate --write-to thresholds/fer2013.json

    Parameters
    ----------
    model
        Expression model name (default: the default model).
    write
        Store the thresholds as user overrides the registry reads ($AFFECTLENS_HOME/models/<model>.json or the user config folder; never the installed package).
    write_to
        Store them in this file instead (read it with affectlens.registry.load_overrides).
    limit
        Use only the first N validation faces (a quick check).
    """
    from affectlens.eval.abstention import fit_thresholds
    from affectlens.overrides import write_override
    from affectlens.registry import create, override_source

    expression = create(model, "expression", threads=2)
    thresholds = fit_thresholds(expression, root=data_root, limit=limit)
    name = expression.cfg.name
    sys.stdout.write(json.dumps({"model": name, "thresholds": thresholds}, indent=1) + "\n")
    if write or write_to:
        path = write_override(name, write_to, thresholds=thresholds)
        used = override_source(name) == path
        log.info(
            "wrote %s (%s)",
            path,
            "the registry reads it" if used else "read it with affectlens.registry.load_overrides",
        )
    return 0


def train(
    *,
    out: Path,
    config: Path | None = None,
    data_root: DataRoot = None,
    epochs: int | None = None,
    limit_train: int | None = None,
    limit_val: int | None = None,
    name: str | None = None,
    no_export: Annotated[bool, Parameter(name="--no-export", negative="")] = False,
    quantize: Literal["int8", "int8-dynamic", "float16"] | None = None,
    default_model: bool = True,
    verbose: Annotated[bool, Parameter(name=["--verbose", "-v"], negative="")] = False,
) -> int:
    """Train an expression model on FER2013 + FER+ (needs the [train] extra).

    Examples:

        affectlens train --out runs/lite0
        affectlens train --out runs/quick --epochs 1 --limit-train 2000 --limit-val 500

    Parameters
    ----------
    out
        Run folder: checkpoints, metrics, exported model.
    config
        JSON file with TrainConfig fields (default: the shipped recipe).
    epochs
        Override the number of epochs.
    limit_train
        Use only the first N training images.
    limit_val
        Use only the first N validation images.
    name
        Registry name of the exported model (default: the config's name).
    no_export
        Train only; skip the ONNX export.
    quantize
        Ship this variant of the exported model (int8: calibrated on training crops); check it with benchmarks/classifier_variants.py.
    default_model
        Make the exported model the registry's default (--no-default-model: a model shipped beside the default).
    """
    from affectlens.eval.datasets.base import data_root as resolve_root
    from affectlens.train.config import TrainConfig
    from affectlens.train.loop import train as train_loop

    cfg = TrainConfig.load(config) if config else TrainConfig()
    for field, value in (("epochs", epochs), ("limit_train", limit_train), ("limit_val", limit_val)):
        if value is not None:
            setattr(cfg, field, value)
    root = resolve_root(data_root)
    best = train_loop(cfg, root, out)
    if no_export:
        return 0
    from affectlens.train.pack import pack_model

    folder = pack_model(best, root, out / "export", name=name or cfg.name, quantize=quantize, default=default_model)
    log.info("exported %s", folder)
    return 0
