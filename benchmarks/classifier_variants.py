"""Expression classifier variants (float32, int8 static QDQ, int8 dynamic, float16): accuracy vs speed.

For a registered model (default: the default model), makes each variant with
:func:`affectlens.train.quantize.quantize_classifier` (int8 calibrated on FER2013 training
crops) and prints, per variant: FER+ test accuracy (majority rule, full split and with
cross-split duplicates removed), the change in points against float32, whether it is within the
0.3-point budget, and ms per face at batch 1 on 2 onnxruntime threads (mirror averaging
included when the model uses it), timed alternately across variants in one window (the load
average is printed beside it). ``--write`` writes benchmarks/results/classifier_variants.json;
``--keep DIR`` keeps the variant files.

    AFFECTLENS_DATA=../shared/datasets python benchmarks/classifier_variants.py [--model NAME] [--write]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from affectlens.eval.datasets import load_ferplus
from affectlens.eval.protocol import score
from affectlens.models.expression import ExpressionModel
from affectlens.registry import get_model_cfg
from affectlens.train.quantize import VARIANTS, float32_cfg, quantize_classifier, training_crops

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402

#: Largest FER+ test accuracy drop (points) for a variant to be kept (issue 15).
BUDGET_POINTS = 0.3


def accuracies(model: ExpressionModel, sets: dict) -> dict:
    """Accuracy on each set (``dedup`` -> FaceSet); the model predicts each image once (the
    deduplicated set is a subset of the full one)."""
    full = sets[False]
    images = np.asarray(full.images)
    probs = np.concatenate([model.predict(images[i : i + 256]) for i in range(0, len(images), 256)])
    where = {row: i for i, row in enumerate(full.ids)}
    return {
        dedup: score(fs, probs[[where[i] for i in fs.ids]], model.labels, model.cfg.name, "face", dedup=dedup).accuracy
        for dedup, fs in sets.items()
    }


def timings(models: dict, crop: np.ndarray, rounds: int, per_round: int = 50) -> dict:
    """ms per face at batch 1: min and median over rounds run alternately across models."""
    x = {name: m.preprocess(crop) for name, m in models.items()}
    times = {name: [] for name in models}
    for m in models.values():
        m.forward(x[next(iter(x))])
    for _ in range(rounds):
        for name, m in models.items():
            for _ in range(per_round):
                t0 = time.perf_counter()
                m.forward(x[name])
                times[name].append(1000 * (time.perf_counter() - t0))
    return {n: (round(min(t), 3), round(statistics.median(t), 3)) for n, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="registered expression model (default: the default model)")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--keep", type=Path, default=None, help="folder to keep the variant ONNX files in")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/classifier_variants.json")
    args = ap.parse_args()
    cfg = float32_cfg(get_model_cfg(args.model))  # the variants are made from the float32 file
    crops = training_crops(args.data_root)
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        models = {"float32": ExpressionModel(cfg, threads=2)}
        for v in VARIANTS:
            path = quantize_classifier(cfg.path, folder / f"{Path(cfg.file).stem}-{v}.onnx", v, cfg, crops)
            models[v] = ExpressionModel(dataclasses.replace(cfg, file=path.name, folder=str(folder)), threads=2)
        sizes = {n: round(m.cfg.path.stat().st_size / 1024) for n, m in models.items()}
        sets = {dedup: load_ferplus(args.data_root, "test", dedup=dedup) for dedup in (False, True)}
        acc = {n: accuracies(m, sets) for n, m in models.items()}
        speed = timings(models, np.asarray(sets[False].images[:1]), args.rounds)
    load = os.getloadavg()
    rows = []
    for n in models:
        drop = 100 * (acc["float32"][False] - acc[n][False])
        rows.append(
            {
                "variant": n,
                "ferplus_test_acc": round(acc[n][False], 4),
                "ferplus_test_dedup_acc": round(acc[n][True], 4),
                "drop_points": round(drop, 2),
                "kept": drop <= BUDGET_POINTS,
                "ms_per_face_min": speed[n][0],
                "ms_per_face_median": speed[n][1],
                "file_kb": sizes[n],
            }
        )
    print(
        f"model {cfg.name}, FER+ test majority rule (n={len(sets[False].ids)}), 2 threads, batch 1, "
        f"flip_tta {cfg.flip_tta}; load average {load[0]:.2f}"
    )
    print(f"{'variant':<14}{'acc':>8}{'dedup':>8}{'drop pts':>10}{'kept':>6}{'ms min':>8}{'ms med':>8}{'KB':>7}")
    for r in rows:
        print(
            f"{r['variant']:<14}{r['ferplus_test_acc']:>8.4f}{r['ferplus_test_dedup_acc']:>8.4f}{r['drop_points']:>10.2f}"
            f"{'yes' if r['kept'] else 'no':>6}{r['ms_per_face_min']:>8.3f}{r['ms_per_face_median']:>8.3f}{r['file_kb']:>7}"
        )
    if args.write:
        out = ROOT / "benchmarks" / "results" / "classifier_variants.json"
        payload = {
            "model": cfg.name,
            "machine": machine(),
            "load_average": load,
            "budget_points": BUDGET_POINTS,
            "rows": rows,
        }
        out.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
