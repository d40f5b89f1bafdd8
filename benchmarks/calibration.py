"""Calibration, abstention, valence and occlusion on the real FER+ / FER2013 test split.

    AFFECTLENS_DATA=../shared/datasets python benchmarks/calibration.py [--write]

Prints tables; ``--write`` also writes benchmarks/results/calibration.json (``--out PATH``: there). Everything is measured on the
test split (PrivateTest); every threshold used was fitted on the validation split
(PublicTest) by ``affectlens calibrate`` and is read from the model's ``models.json``.

- ECE (15 bins) before (temperature 1) and after temperature scaling; accuracy on the most
  confident 50/80/100 % and at the ``uncertain`` rule.
- Valence and arousal by true label (FER+ plurality labels): mean, standard deviation, n.
- Synthetic occlusion of the mouth or the eyes of the test faces (a flat patch of a random grey
  level, or a patch cut from another test face's upper rows), ``uncertain`` rate clean vs
  occluded, and how often the ``occluded`` reason fires.
- Open set: FER+ test images whose crowd majority is "unknown" or "not a face" (left out of
  the labelled test set) and the rate at which ``unknown class`` fires on them.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlens import Analyzer, Options  # noqa: E402
from affectlens.eval.datasets import load_fer2013, load_ferplus  # noqa: E402
from affectlens.eval.datasets.fer2013 import read_fer2013, read_ferplus_votes  # noqa: E402
from affectlens.eval.protocol import predict_faceset_full, score  # noqa: E402
from affectlens.models.expression import softmax  # noqa: E402

MOUTH_ROWS, EYE_ROWS, COLS = (29, 48), (8, 27), (4, 44)  # in the 48x48 FER crop


def occlude(images: np.ndarray, region: str, kind: str, seed: int = 0) -> np.ndarray:
    """Copies with the mouth or eye band covered by a flat random grey or another face's patch."""
    rng = np.random.default_rng(seed)
    r0, r1 = MOUTH_ROWS if region == "mouth" else EYE_ROWS
    c0, c1 = COLS
    out = images.copy()
    for k in range(len(out)):
        if kind == "flat":
            out[k, r0:r1, c0:c1] = rng.integers(0, 256)
        else:
            j = int(rng.integers(len(images)))
            out[k, r0:r1, c0:c1] = images[j, 0 : r1 - r0, c0:c1]
    return out


def run(analyzer, fs):
    pred = predict_faceset_full(analyzer, fs, progress=False)
    affects = analyzer.assess(pred.faces, pred.crops, pred.logits, pred.probs)
    return pred, affects


def calibration_rows(analyzer, fs) -> dict:
    cfg = analyzer.model.cfg
    pred, affects = run(analyzer, fs)
    rep = score(
        fs,
        pred.probs,
        cfg.labels,
        cfg.name,
        "face",
        probs_uncalibrated=softmax(pred.logits, 1.0),
        temperature=cfg.temperature,
        reasons=[a.uncertain_reason for a in affects],
    )
    rc = {f"{int(e['coverage'] * 100)}%": round(e["accuracy"], 4) for e in rep.risk_coverage}
    return (
        {
            "model": cfg.name,
            "dataset": fs.name,
            "split": "test (PrivateTest)",
            "n": rep.n,
            "temperature": cfg.temperature,
            "ece_before": round(rep.ece_uncalibrated, 4),
            "ece_after": round(rep.ece, 4),
            "accuracy_at_coverage": rc,
            "gain_80_vs_100_points": round(100 * (rc["80%"] - rc["100%"]), 2),
            "uncertain_rule": {
                k: (round(v, 4) if isinstance(v, float) else v)
                for k, v in rep.abstention.items()
                if k != "reason_rates"
            },
            "reason_rates": {k: round(v, 4) for k, v in rep.abstention["reason_rates"].items()},
        },
        pred,
        affects,
    )


def valence_by_label(fs, affects) -> dict:
    out = {}
    va = np.array([[a.valence, a.arousal] for a in affects])
    for i, lab in enumerate(fs.label_names):
        m = fs.labels == i
        if m.any():
            out[lab] = {
                "n": int(m.sum()),
                "valence_mean": round(float(va[m, 0].mean()), 4),
                "valence_sd": round(float(va[m, 0].std()), 4),
                "arousal_mean": round(float(va[m, 1].mean()), 4),
                "arousal_sd": round(float(va[m, 1].std()), 4),
            }
    return out


def rate(affects, reason: str | None = None) -> float:
    if reason is None:
        return float(np.mean([a.uncertain for a in affects]))
    return float(np.mean([reason in a.uncertain_reason.split(";") for a in affects]))


def occlusion_rows(analyzer, fs, clean_affects, clean_pred) -> list[dict]:
    images = np.asarray(fs.images)
    clean_acc = float((clean_pred.probs.argmax(1) == fs.labels).mean())
    rows = [
        {
            "condition": "clean",
            "uncertain_rate": round(rate(clean_affects), 4),
            "occluded_reason_rate": round(rate(clean_affects, "occluded"), 4),
            "accuracy": round(clean_acc, 4),
        }
    ]
    for region in ("mouth", "eyes"):
        for kind in ("flat", "face patch"):
            occ = dataclasses.replace(fs, images=occlude(images, region, "flat" if kind == "flat" else "patch"))
            pred, affects = run(analyzer, occ)
            rows.append(
                {
                    "condition": f"{region} covered ({kind})",
                    "uncertain_rate": round(rate(affects), 4),
                    "occluded_reason_rate": round(rate(affects, "occluded"), 4),
                    "accuracy": round(float((pred.probs.argmax(1) == fs.labels).mean()), 4),
                }
            )
    return rows


def open_set_row(analyzer, root, known_affects) -> dict:
    from affectlens.eval.datasets.base import FaceSet

    _, pixels, usage = read_fer2013(root)
    votes, has_name, _ = read_ferplus_votes(root)
    rows = np.flatnonzero((usage == "PrivateTest") & has_name & (votes.argmax(1) >= 8))
    fs = FaceSet(
        "ferplus-unknown",
        "test",
        pixels[rows],
        np.zeros(len(rows), np.int64),
        ("unknown",),
        tuple(f"row{r}" for r in rows),
    )
    _, affects = run(analyzer, fs)
    return {
        "n_unknown_or_not_face": int(len(rows)),
        "unknown_class_rate_on_them": round(rate(affects, "unknown class"), 4),
        "uncertain_rate_on_them": round(rate(affects), 4),
        "unknown_class_rate_on_known": round(rate(known_affects, "unknown class"), 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--out", default=None, help="write the results here instead")
    ap.add_argument(
        "--write", action="store_true", help="write benchmarks/results/calibration.json (default: print only)"
    )
    args = ap.parse_args()
    results: dict = {"calibration": [], "notes": __doc__.strip().splitlines()[0]}

    plus = Analyzer(Options().replace(model="ferplus-lite0", crop_mode="face"))
    # the plurality rule keeps the ambiguous faces the headline majority rule drops: a harder
    # test of calibration and abstention
    fs_plus = load_ferplus(args.data_root, "test", rule="plurality")
    row, pred_plus, aff_plus = calibration_rows(plus, fs_plus)
    results["calibration"].append(row)
    fer = Analyzer(Options().replace(model="fer2013-lite0", crop_mode="face"))
    row2, _, aff_fer = calibration_rows(fer, load_fer2013(args.data_root, "test"))
    results["calibration"].append(row2)
    results["valence_arousal_by_label"] = {
        "ferplus test, ferplus-lite0": valence_by_label(fs_plus, aff_plus),
        "fer2013 test, fer2013-lite0": valence_by_label(load_fer2013(args.data_root, "test"), aff_fer),
    }
    results["occlusion"] = occlusion_rows(plus, fs_plus, aff_plus, pred_plus)
    results["open_set"] = open_set_row(plus, args.data_root, aff_plus)

    print("calibration and risk-coverage (test split):")
    print(
        f"{'model':<15}{'data':<9}{'n':>6}{'T':>7}{'ECE T=1':>9}{'ECE':>8}{'acc@50%':>9}{'acc@80%':>9}"
        f"{'acc@100%':>10}{'rule cov':>9}{'rule acc':>9}"
    )
    for r in results["calibration"]:
        a, u = r["accuracy_at_coverage"], r["uncertain_rule"]
        print(
            f"{r['model']:<15}{r['dataset']:<9}{r['n']:>6}{r['temperature']:>7.3f}{r['ece_before']:>9.4f}{r['ece_after']:>8.4f}"
            f"{a['50%']:>9.4f}{a['80%']:>9.4f}{a['100%']:>10.4f}{u['coverage']:>9.3f}{u['accuracy']:>9.4f}"
        )
    for name, table in results["valence_arousal_by_label"].items():
        print(f"\nvalence / arousal by true label ({name}):")
        for lab, d in table.items():
            print(
                f"  {lab:<10} n={d['n']:>5}  valence {d['valence_mean']:+.3f} (sd {d['valence_sd']:.3f})"
                f"  arousal {d['arousal_mean']:+.3f} (sd {d['arousal_sd']:.3f})"
            )
    print("\nsynthetic occlusion (FER+ test, ferplus-lite0):")
    for r in results["occlusion"]:
        print(
            f"  {r['condition']:<26} uncertain {r['uncertain_rate']:.3f}  'occluded' {r['occluded_reason_rate']:.3f}"
            f"  accuracy {r['accuracy']:.3f}"
        )
    o = results["open_set"]
    print(
        f"\nopen set: {o['n_unknown_or_not_face']} FER+ test images voted unknown / not a face: 'unknown class' "
        f"{o['unknown_class_rate_on_them']:.3f} (known faces {o['unknown_class_rate_on_known']:.3f})"
    )
    out = args.out or (str(ROOT / "benchmarks" / "results" / "calibration.json") if args.write else None)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(results, indent=1) + "\n")
        print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
