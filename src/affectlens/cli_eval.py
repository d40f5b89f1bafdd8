"""``affectlens eval`` and ``affectlens train``: thin command-line wrappers."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("affectlens")


def add_eval_parser(sub) -> None:
    e = sub.add_parser("eval", help="evaluate an expression model on a labelled data set")
    e.add_argument("--dataset", required=True, help="fer2013, ferplus (FER+ majority rule), ferplus:plurality, ferplus:argmax or folder:PATH")
    e.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="train/val/test = Training/PublicTest/PrivateTest (default test)")
    e.add_argument("--model", default=None, help="expression model name (default: the default model)")
    e.add_argument("--crop-mode", choices=("face", "detect"), default="face",
                   help="face: each image is a face crop (default); detect: find the face first")
    e.add_argument("--dedup", action="store_true",
                   help="drop test images with a pixel-identical twin in the training split")
    e.add_argument("--data-root", default=None, help="data folder (default: $AFFECTLENS_DATA)")
    e.add_argument("--json", action="store_true", help="print one JSON object")
    e.set_defaults(func=cmd_eval)


def cmd_eval(args) -> int:
    from affectlens.eval.datasets import load_dataset
    from affectlens.eval.protocol import evaluate, format_report
    from affectlens.pipeline import Analyzer, AnalyzeOptions

    fs = load_dataset(args.dataset, split=args.split, root=args.data_root, dedup=args.dedup)
    analyzer = Analyzer(AnalyzeOptions(model=args.model, crop_mode=args.crop_mode))
    report = evaluate(analyzer, fs, dedup=args.dedup)
    if args.json:
        sys.stdout.write(json.dumps(report.to_json()) + "\n")
    else:
        sys.stdout.write(format_report(report) + "\n")
    return 0


def add_calibrate_parser(sub) -> None:
    c = sub.add_parser("calibrate", help="fit a model's abstention/compound thresholds on the validation split")
    c.add_argument("--model", default=None, help="expression model name (default: the default model)")
    c.add_argument("--data-root", default=None, help="data folder (default: $AFFECTLENS_DATA)")
    c.add_argument("--write", nargs="?", const="", default=None, metavar="PATH",
                   help="store the thresholds as user overrides the registry reads (default file: "
                        "$AFFECTLENS_HOME/models/<model>.json or the user config folder; never the package)")
    c.add_argument("--limit", type=int, default=None, help="use only the first N validation faces (a quick check)")
    c.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args) -> int:
    from affectlens.eval.abstention import fit_thresholds
    from affectlens.overrides import write_override
    from affectlens.registry import create, override_source

    model = create(args.model, "expression", threads=2)
    thresholds = fit_thresholds(model, root=args.data_root, limit=args.limit)
    sys.stdout.write(json.dumps({"model": model.cfg.name, "thresholds": thresholds}, indent=1) + "\n")
    if args.write is not None:
        path = write_override(model.cfg.name, args.write or None, thresholds=thresholds)
        used = override_source(model.cfg.name) == path
        log.info("wrote %s (%s)", path, "the registry reads it" if used else "read it with affectlens.registry.load_overrides")
    return 0


def add_train_parser(sub) -> None:
    t = sub.add_parser("train", help="train an expression model on FER2013 + FER+ (needs the [train] extra)")
    t.add_argument("--config", type=Path, help="JSON file with TrainConfig fields (defaults: the shipped recipe)")
    t.add_argument("--data-root", default=None, help="data folder (default: $AFFECTLENS_DATA)")
    t.add_argument("--out", type=Path, required=True, help="run folder: checkpoints, metrics, exported model")
    t.add_argument("--epochs", type=int, help="override the number of epochs")
    t.add_argument("--limit-train", type=int, help="use only the first N training images")
    t.add_argument("--limit-val", type=int, help="use only the first N validation images")
    t.add_argument("--name", default=None, help="registry name of the exported model (default: config name)")
    t.add_argument("--no-export", action="store_true", help="train only; skip ONNX export")
    t.set_defaults(func=cmd_train)


def cmd_train(args) -> int:
    from affectlens.eval.datasets.base import data_root
    from affectlens.train.config import TrainConfig
    from affectlens.train.loop import train

    cfg = TrainConfig.load(args.config) if args.config else TrainConfig()
    for field, value in (("epochs", args.epochs), ("limit_train", args.limit_train), ("limit_val", args.limit_val)):
        if value is not None:
            setattr(cfg, field, value)
    root = data_root(args.data_root)
    best = train(cfg, root, args.out)
    if args.no_export:
        return 0
    from affectlens.train.pack import pack_model

    folder = pack_model(best, root, args.out / "export", name=args.name or cfg.name)
    log.info("exported %s", folder)
    return 0
