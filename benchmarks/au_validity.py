"""Do the geometric action units move the way FACS says, on real FER+ test faces?

Each FER+ test face (48x48 grey, plurality label) is upscaled to 192x192 and run through the
whole photo pipeline as one cropped face (``crop_mode="face"``, face mesh on); the script counts
how many faces got a mesh and compares mean AU intensities between classes with Cohen's d:
AU12 happiness > neutral, AU4 anger > happiness, AU25 and AU26 surprise > neutral (plus a
table of every AU's mean per class). Prints the tables; ``--write`` also writes benchmarks/results/au_validity.json.

    AFFECTLENS_DATA=../shared/datasets python benchmarks/au_validity.py [--write]      # ~1 min

``--fit`` instead measures FER+ *train* faces and prints the population references of
:mod:`affectlens.models.action_units` (``REFERENCE``) and ``PITCH_ZERO`` of
:mod:`affectlens.models.landmarks`, the constants committed there.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlens.eval.datasets import load_ferplus  # noqa: E402
from affectlens.eval.datasets.fer2013 import VALIDATION_RULE  # noqa: E402
from affectlens.eval.metrics import cohens_d  # noqa: E402
from affectlens.models.action_units import AU_NAMES  # noqa: E402

SIZE = 192
#: (AU, higher class, lower class): what FACS/EMFACS predicts.
CHECKS = [("AU12", "happiness", "neutral"), ("AU4", "anger", "happiness"),
          ("AU25", "surprise", "neutral"), ("AU26", "surprise", "neutral")]

#: FER+ label rule of the fitted AU scale and of the committed results: the rule of every
#: choice made on FER+ labels (plurality)
RULE = VALIDATION_RULE


def upscale(gray: np.ndarray) -> np.ndarray:
    g = np.asarray(Image.fromarray(gray).resize((SIZE, SIZE), Image.BICUBIC))
    return np.repeat(g[:, :, None], 3, axis=2)


def sample(fs, per_class: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for ci, name in enumerate(fs.label_names):
        idx = np.flatnonzero(fs.labels == ci)
        out[name] = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return out


def fit(args) -> None:
    """Population references from FER+ train faces (stage functions, no references needed)."""
    from affectlens.models.action_units import raw_measures
    from affectlens.models.landmarks import FaceMesh, head_pose
    from affectlens.types import Face

    fs = load_ferplus(args.data_root, "train", rule=RULE)
    mesh = FaceMesh()
    face = Face(box=(0.0, 0.0, float(SIZE), float(SIZE)), score=1.0, landmarks=())
    raws, pitches, labels = [], [], []
    for name, idx in sample(fs, args.per_class).items():
        for i in idx:
            pts = mesh.run(upscale(fs.images[i]), face).points
            if len(pts):
                raws.append(raw_measures(pts))
                pitches.append(head_pose(pts)[1])
                labels.append(name)
    raws, labels = np.array(raws), np.array(labels)
    neutral = np.median(raws[labels == "neutral"], axis=0)
    high = np.percentile(raws, 95, axis=0)
    print(f"# fitted on {len(raws)} FER+ train faces with a mesh ({args.per_class} per class at most)")
    print("REFERENCE: dict[str, tuple[float, float]] = {")
    for n, lo, hi in zip(AU_NAMES, neutral, high):
        print(f'    "{n}": ({lo:.4f}, {hi:.4f}),')
    print("}")
    print(f"PITCH_ZERO = {-float(np.median(np.array(pitches)[labels == 'neutral'])):.1f}  "
          "(minus the median of the pitch measured with PITCH_ZERO = 0)")


def evaluate(args) -> None:
    from affectlens.options import Options
    from affectlens.pipeline.image import Analyzer

    fs = load_ferplus(args.data_root, "test", rule=RULE)
    an = Analyzer(Options().replace(crop_mode="face", mesh="on"), threads=1)
    classes = ["neutral", "happiness", "surprise", "anger", "sadness", "disgust", "fear", "contempt"]
    picked = sample(fs, args.per_class)
    values, counts = {}, {}
    for name in classes:
        rows = []
        for i in picked[name]:
            r = an.analyze(upscale(fs.images[i]), source=fs.ids[i])
            rows.append([r.faces[0].aus.get(n) for n in AU_NAMES] if r.faces else [np.nan] * len(AU_NAMES))
        arr = np.array(rows, dtype=np.float64)
        values[name] = arr
        counts[name] = {"faces": len(arr), "with_mesh": int((~np.isnan(arr[:, 0])).sum())}
    col = {n: j for j, n in enumerate(AU_NAMES)}
    checks = []
    for au, hi, lo in CHECKS:
        a, b = values[hi][:, col[au]], values[lo][:, col[au]]
        checks.append({"au": au, "higher": hi, "lower": lo, "mean_higher": float(np.nanmean(a)),
                       "mean_lower": float(np.nanmean(b)), "n_higher": int((~np.isnan(a)).sum()),
                       "n_lower": int((~np.isnan(b)).sum()), "cohens_d": cohens_d(a, b),
                       "holds": bool(np.nanmean(a) > np.nanmean(b))})
    print(f"FER+ test faces ({RULE} label), up to {args.per_class} per class, upscaled 48 -> {SIZE} px")
    print(f"{'class':<10}{'faces':>7}{'mesh':>6}" + "".join(f"{n:>6}" for n in AU_NAMES))
    for name in classes:
        m = np.nanmean(values[name], axis=0)
        print(f"{name:<10}{counts[name]['faces']:>7}{counts[name]['with_mesh']:>6}" + "".join(f"{v:6.2f}" for v in m))
    print()
    print(f"{'check':<28}{'mean hi':>8}{'mean lo':>8}{'n hi':>6}{'n lo':>6}{'d':>7}  holds")
    for c in checks:
        print(f"{c['au'] + ' ' + c['higher'] + ' > ' + c['lower']:<28}{c['mean_higher']:8.3f}{c['mean_lower']:8.3f}"
              f"{c['n_higher']:6d}{c['n_lower']:6d}{c['cohens_d']:7.2f}  {c['holds']}")
    result = {"dataset": f"ferplus test (FER2013 PrivateTest rows, {RULE} label)", "per_class": args.per_class,
              "upscaled_to": SIZE, "counts": counts, "checks": checks,
              "mean_au": {name: dict(zip(AU_NAMES, [round(float(v), 4) for v in np.nanmean(values[name], axis=0)]))
                          for name in classes}}
    if args.write:
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "au_validity.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out / 'au_validity.json'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--per-class", type=int, default=300, help="faces per class at most (default 300)")
    ap.add_argument("--fit", action="store_true", help="fit the references on FER+ train faces and print them")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/au_validity.json (default: print only)")
    args = ap.parse_args()
    fit(args) if args.fit else evaluate(args)


if __name__ == "__main__":
    main()
