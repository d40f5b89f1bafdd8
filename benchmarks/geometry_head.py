"""Appearance + geometry: does a small head over the default model's logits and the face mesh's
geometry beat the appearance alone? (issue 14; an experiment, nothing here is shipped.)

For every FER+ face (majority label) it measures (a) the logits of the default model
``ferplus-lite0`` (its mirror averaging included; the ONNX exposes logits, not the penultimate
features) and (b) the face mesh the photo path fits (YuNet on the 48-px face, then the mesh around
the box: :func:`benchmarks.au_validity.photo_path_mesh`), turned into two geometry feature sets:
``au``, the 13 raw action-unit measures of :func:`affectlens.models.action_units.raw_measures`,
and ``mesh``, the 468 points' (x, y) in the face's frontal frame over the inter-ocular distance
(:func:`affectlens.models.action_units.frontal`).

Logistic-regression heads (standardised features, L2) are fitted with scikit-learn on a seeded
class-balanced sample of FER+ Training faces (``--per-class`` per class at most, every face of the
rarer classes), their C chosen by macro-F1 on PublicTest, each with and without class-balanced
weights; the numbers are on the whole of PrivateTest (3,153 faces), clean and with the eyes
occluded, the mouth occluded and at 24 px (:mod:`affectlens.eval.perturb`, the mesh re-fitted on
the perturbed face). Every head is fitted on the same training rows (those with a mesh), so the
appearance-only head is the control. A face without a mesh is scored by the appearance-only head
(same weighting) in the heads that use geometry, so on the whole test set the heads differ only on
meshed faces; geometry-only heads are scored on the meshed faces only. ``shipped`` is the default
model's own argmax and calibrated probabilities. A second protocol (:data:`PROTOCOLS`) fits the
heads on PublicTest itself, C by 5-fold cross-validation there: the default model was trained on
Training, so its logits are more often right there than on unseen faces. Differences to the
control come with a seeded paired-bootstrap 95 % interval; :func:`verdict` applies the issue's
rule (keep a head if it improves macro-F1, clean or perturbed, and loses nowhere).

    AFFECTLENS_DATA=../shared/datasets nice -n 10 python benchmarks/geometry_head.py [--write]

The first run fits 19,581 meshes (36 minutes on the shared 2-core machine); the features are
cached under ``--cache`` (default ``/tmp/affectlens-geometry-head``), so a re-run only fits the
heads (about 6 minutes, mostly the 936-feature mesh heads); the cache is keyed by split,
variant, sample size and seed only, so delete it when the model or the mesh changes. ``--write`` writes
``benchmarks/results/geometry_head.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from affectlens.eval.datasets import load_ferplus  # noqa: E402
from affectlens.eval.datasets.base import FaceSet  # noqa: E402
from affectlens.eval.perturb import PERTURBATIONS  # noqa: E402
from affectlens.eval.protocol import score  # noqa: E402
from affectlens.labels import CANONICAL  # noqa: E402
from affectlens.models.action_units import frontal, raw_measures  # noqa: E402
from affectlens.models.landmarks import MESH_POINTS  # noqa: E402

log = logging.getLogger("affectlens")

RESULTS = ROOT / "benchmarks" / "results"
#: test-time variants (keys of :data:`affectlens.eval.perturb.PERTURBATIONS`)
VARIANTS = ("none", "eyes occluded", "mouth occluded", "24 px face")
#: regularisation strengths tried (inverse L2 weight of scikit-learn's LogisticRegression)
CS = (0.001, 0.01, 0.1, 1.0, 10.0)
#: feature sets of the heads: which blocks each concatenates
FEATURE_SETS = {
    "appearance": ("logits",),
    "AU": ("au",),
    "mesh": ("mesh",),
    "appearance + AU": ("logits", "au"),
    "appearance + mesh": ("logits", "mesh"),
}
GEOMETRY_ONLY = ("AU", "mesh")


@dataclass(frozen=True)
class Features:
    """What the default model and the face mesh make of a set of FER+ faces, in order."""

    ids: np.ndarray  # FER2013 row ids (str)
    labels: np.ndarray  # indices into CANONICAL
    logits: np.ndarray  # (N, 8) the default model's raw logits
    mesh: np.ndarray  # (N, 468, 3) mesh points in the 48-px face's pixels, NaN where none fitted

    @property
    def meshed(self) -> np.ndarray:
        return ~np.isnan(self.mesh).any(axis=(1, 2))

    def subset(self, keep: np.ndarray) -> Features:
        return Features(self.ids[keep], self.labels[keep], self.logits[keep], self.mesh[keep])


def measure(analyzer, images: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """(logits (N, K), mesh points (N, 468, 3), NaN where no face or no mesh) of grey faces.

    ``analyzer``: an :class:`~affectlens.pipeline.image.Analyzer` with the mesh on; its model
    scores each whole image (as ``benchmarks/robustness.py`` does), the mesh is fitted the way a
    photo's is (detection, then the mesh around the most confident box).
    """
    from benchmarks.au_validity import photo_path_mesh

    images = np.asarray(images)
    logits = [analyzer.logits(images[i : i + batch]) for i in range(0, len(images), batch)]
    logits = np.concatenate(logits) if logits else np.zeros((0, len(analyzer.model.labels)))
    meshes = np.stack([photo_path_mesh(analyzer, g) for g in images]) if len(images) else np.zeros((0, MESH_POINTS, 3))
    return logits.astype(np.float32), meshes.astype(np.float32)


def au_features(mesh: np.ndarray) -> np.ndarray:
    """(N, 13) raw action-unit measures (NaN rows where there is no mesh)."""
    out = np.full((len(mesh), 13), np.nan)
    for i, m in enumerate(mesh):
        if not np.isnan(m).any():
            out[i] = raw_measures(m)
    return out


def mesh_features(mesh: np.ndarray) -> np.ndarray:
    """(N, 936) the points' (x, y) in the face's frontal frame over the inter-ocular distance."""
    out = np.full((len(mesh), 2 * MESH_POINTS), np.nan)
    for i, m in enumerate(mesh):
        if not np.isnan(m).any():
            out[i] = frontal(m)[:, :2].ravel()
    return out


def blocks(f: Features) -> dict[str, np.ndarray]:
    return {"logits": f.logits.astype(np.float64), "au": au_features(f.mesh), "mesh": mesh_features(f.mesh)}


def design(b: dict[str, np.ndarray], feature_set: str) -> np.ndarray:
    return np.hstack([b[k] for k in FEATURE_SETS[feature_set]])


# -- features, cached --------------------------------------------------------------------


def sample_rows(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Sorted positions: at most ``per_class`` of each class, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for c in range(len(CANONICAL)):
        idx = np.flatnonzero(labels == c)
        out.append(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return np.sort(np.concatenate(out))


def features(args, analyzer, split: str, variant: str = "none") -> Features:
    """Features of one split (train: the class-balanced sample) under one perturbation, cached."""
    tag = f"{split}_{variant.replace(' ', '-')}" + (f"_{args.per_class}_{args.seed}" if split == "train" else "")
    path = Path(args.cache) / f"{tag}.npz"
    if path.is_file():
        z = np.load(path)
        return Features(z["ids"], z["labels"], z["logits"], z["mesh"])
    fs = load_ferplus(args.data_root, split)
    rows = sample_rows(fs.labels, args.per_class, args.seed) if split == "train" else np.arange(len(fs))
    images = np.asarray(fs.images)[rows]
    if variant != "none":
        images = PERTURBATIONS[variant](images, analyzer.model.cfg.template)
    t0 = time.perf_counter()
    logits, mesh = measure(analyzer, images)
    f = Features(np.asarray(fs.ids)[rows], fs.labels[rows], logits, mesh)
    log.info("%s: %d faces, %d with a mesh, %.0f s", tag, len(rows), int(f.meshed.sum()), time.perf_counter() - t0)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, ids=f.ids, labels=f.labels, logits=f.logits, mesh=f.mesh)
    return f


# -- heads ---------------------------------------------------------------------------------


def fit_head(x: np.ndarray, y: np.ndarray, c: float, balanced: bool):
    """Standardised features → multinomial logistic regression (L2, inverse strength ``c``)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    lr = LogisticRegression(C=c, class_weight="balanced" if balanced else None, max_iter=5000)
    return make_pipeline(StandardScaler(), lr).fit(x, y)


def macro_f1(y: np.ndarray, probs: np.ndarray) -> float:
    from affectlens.eval import metrics

    return metrics.macro_f1(metrics.confusion_matrix(y, probs.argmax(axis=1), len(CANONICAL)))


#: how the heads are fitted: on the Training sample with C chosen on PublicTest (the main
#: protocol), or on PublicTest itself with C chosen by 5-fold cross-validation there (a check:
#: the default model was trained on Training, so its logits there are more often right than on
#: unseen faces, which may teach a head to trust them more than it should)
PROTOCOLS = ("fit on Training, C on PublicTest", "fit on PublicTest, C by 5-fold CV")
#: feature sets fitted under each protocol: the cross-validated check leaves out the mesh heads
#: (936 features; about 100 times slower to fit than the others)
PROTOCOL_SETS = {PROTOCOLS[0]: tuple(FEATURE_SETS), PROTOCOLS[1]: ("appearance", "AU", "appearance + AU")}
FOLDS = 5


def cv_probs(x: np.ndarray, y: np.ndarray, c: float, balanced: bool, seed: int) -> np.ndarray:
    """Out-of-fold probabilities of :func:`fit_head` (stratified folds, ``seed``)."""
    from sklearn.model_selection import StratifiedKFold

    out = np.zeros((len(y), len(CANONICAL)))
    for tr, te in StratifiedKFold(FOLDS, shuffle=True, random_state=seed).split(x, y):
        head = fit_head(x[tr], y[tr], c, balanced)
        out[np.ix_(te, head[-1].classes_)] = head.predict_proba(x[te])
    return out


def choose_heads(train: Features, val: Features, protocol: str, seed: int) -> tuple[dict, dict]:
    """({(feature set, balanced): fitted head}, {same key: choice}) under ``protocol`` (one of
    :data:`PROTOCOLS`), C chosen by macro-F1; only faces with a mesh are used, so every head of a
    protocol sees the same faces."""
    tr, va = train.subset(train.meshed), val.subset(val.meshed)
    btr, bva = blocks(tr), blocks(va)
    on_val = protocol == PROTOCOLS[1]
    heads, chosen = {}, {}
    for name in PROTOCOL_SETS[protocol]:
        xtr, xva = design(btr, name), design(bva, name)
        for balanced in (False, True):
            scores = {}
            for c in CS:
                if on_val:
                    probs = cv_probs(xva, va.labels, c, balanced, seed)
                else:
                    probs = fit_head(xtr, tr.labels, c, balanced).predict_proba(xva)
                scores[c] = macro_f1(va.labels, probs)
            best = max(scores, key=scores.get)
            x, y = (xva, va.labels) if on_val else (xtr, tr.labels)
            heads[name, balanced] = fit_head(x, y, best, balanced)
            chosen[name, balanced] = {"C": best, "macro_f1_by_C": {str(c): round(v, 4) for c, v in scores.items()}}
            log.info(
                "%s: %s%s: C %s (macro-F1 %.4f)", protocol, name, " balanced" if balanced else "", best, scores[best]
            )
    return heads, chosen


def head_probs(heads: dict, name: str, balanced: bool, f: Features, b: dict | None = None) -> np.ndarray:
    """Probabilities of one head on every face; faces without a mesh get the appearance head's
    (geometry-only heads: NaN there). ``b``: :func:`blocks` of ``f`` when already computed."""
    b = blocks(f) if b is None else b
    out = heads["appearance", balanced].predict_proba(design(b, "appearance"))
    if name == "appearance":
        return out
    if name in GEOMETRY_ONLY:
        out = np.full_like(out, np.nan)
    m = f.meshed
    if m.any():
        out[m] = heads[name, balanced].predict_proba(design(b, name)[m])
    return out


def shipped_probs(f: Features) -> np.ndarray:
    from affectlens.models.expression import softmax
    from affectlens.registry import get_model_cfg

    return softmax(f.logits, get_model_cfg("ferplus-lite0").temperature)


# -- scoring -------------------------------------------------------------------------------


def scores(f: Features, probs: np.ndarray, model: str) -> dict:
    """Accuracy, macro-F1, balanced accuracy, ECE and recall per class (the eval protocol's score)."""
    fs = FaceSet("ferplus", "test", None, f.labels, CANONICAL, tuple(f.ids))
    r = score(fs, probs, CANONICAL, model, "face")
    keys = ("n", "accuracy", "macro_f1", "balanced_accuracy", "ece")
    return {k: getattr(r, k) for k in keys} | {"recall": {c: d["recall"] for c, d in r.per_class.items()}}


def paired_delta(y: np.ndarray, base: np.ndarray, new: np.ndarray, seed: int, rounds: int = 1000) -> dict:
    """Difference new − base of accuracy and macro-F1 on the same faces, with a seeded paired
    bootstrap 95 % interval."""
    rng = np.random.default_rng(seed)
    pb, pn = base.argmax(axis=1), new.argmax(axis=1)
    out = {}
    for key, fn in (("accuracy", lambda i: (pn[i] == y[i]).mean() - (pb[i] == y[i]).mean()), ("macro_f1", None)):
        if fn is None:

            def fn(i):
                return macro_f1(y[i], new[i]) - macro_f1(y[i], base[i])

        boot = [fn(rng.integers(0, len(y), len(y))) for _ in range(rounds)]
        out[key] = {"delta": float(fn(np.arange(len(y)))), "ci95": [float(v) for v in np.percentile(boot, [2.5, 97.5])]}
    return out


def head_title(name: str, balanced: bool) -> str:
    return f"{name} head" + (" (balanced)" if balanced else "")


def evaluate(args, heads: dict, tests: dict[str, Features]) -> tuple[list[dict], list[dict]]:
    """(score rows per variant, model and subset; paired deltas of the combined heads over the
    appearance-only head of the same weighting)."""
    rows, deltas = [], []
    for variant, f in tests.items():
        m = f.meshed
        probs, b = {"shipped ferplus-lite0": shipped_probs(f)}, blocks(f)
        for name, balanced in heads:
            probs[head_title(name, balanced)] = head_probs(heads, name, balanced, f, b)
        for model, p in probs.items():
            geometry_only = any(model.startswith(g + " head") for g in GEOMETRY_ONLY)
            for subset, keep in (("all", np.ones(len(f.labels), bool)), ("meshed", m)):
                if subset == "all" and geometry_only:
                    continue
                rows.append(
                    {"variant": variant, "model": model, "subset": subset} | scores(f.subset(keep), p[keep], model)
                )
        for balanced in (False, True):
            base = probs[head_title("appearance", balanced)]
            combined = [n for n in ("appearance + AU", "appearance + mesh") if (n, balanced) in heads]
            pairs = [(head_title(n, balanced), base) for n in combined]
            pairs.append((head_title("appearance", balanced), probs["shipped ferplus-lite0"]))
            for model, ref in pairs:
                for subset, keep in (("all", np.ones(len(f.labels), bool)), ("meshed", m)):
                    d = paired_delta(f.labels[keep], ref[keep], probs[model][keep], args.seed)
                    against = "shipped ferplus-lite0" if ref is not base else head_title("appearance", balanced)
                    deltas.append({"variant": variant, "model": model, "against": against, "subset": subset} | d)
    return rows, deltas


def verdict(deltas: list[dict]) -> dict:
    """Keep a combined head only if it beats the appearance-only head on macro-F1 (clean or on a
    perturbed variant) with the 95 % interval above 0, and loses nowhere with it below 0."""
    out = {}
    for d in deltas:
        if d["subset"] != "all" or "+" not in d["model"]:
            continue
        e = out.setdefault(d["model"], {"wins": [], "losses": []})
        for key in ("accuracy", "macro_f1"):
            lo, hi = d[key]["ci95"]
            if lo > 0 and key == "macro_f1":
                e["wins"].append(f"{d['variant']} {key} {d[key]['delta']:+.4f}")
            if hi < 0:
                e["losses"].append(f"{d['variant']} {key} {d[key]['delta']:+.4f}")
    for e in out.values():
        e["keep"] = bool(e["wins"]) and not e["losses"]
    return out


def print_tables(rows: list[dict], deltas: list[dict], coverage: dict) -> None:
    print("FER+ PrivateTest, majority label: accuracy / macro-F1 / ECE on all faces and on the faces with a mesh")
    for variant in VARIANTS:
        c = coverage[f"test {variant}"]
        print(f"\n[{variant}]  mesh fitted on {c['meshed']} of {c['n']} faces")
        print(f"{'model':<36}{'all: acc':>9}{'mF1':>7}{'ECE':>7}{'meshed: acc':>13}{'mF1':>7}{'ECE':>7}")
        for model in dict.fromkeys(r["model"] for r in rows if r["variant"] == variant):
            cells = {r["subset"]: r for r in rows if r["variant"] == variant and r["model"] == model}
            a = cells.get("all")
            left = f"{a['accuracy']:>9.4f}{a['macro_f1']:>7.3f}{a['ece']:>7.3f}" if a else f"{'—':>9}{'':>14}"
            b = cells["meshed"]
            print(f"{model:<36}{left}{b['accuracy']:>13.4f}{b['macro_f1']:>7.3f}{b['ece']:>7.3f}")
    print("\nrecall per class, clean, all faces")
    print(f"{'model':<36}" + "".join(f"{c[:7]:>8}" for c in CANONICAL))
    for r in rows:
        if r["variant"] == "none" and r["subset"] == "all":
            print(f"{r['model']:<36}" + "".join(f"{r['recall'][c]:>8.3f}" for c in CANONICAL))
    print("\npaired differences (95 % bootstrap interval), all faces")
    print(f"{'variant':<16}{'model':<36}{'against':<30}{'accuracy':>28}{'macro-F1':>28}")
    for d in deltas:
        if d["subset"] == "all":
            cells = "".join(
                f"{d[k]['delta']:>+10.4f} [{d[k]['ci95'][0]:+.4f}, {d[k]['ci95'][1]:+.4f}]"
                for k in ("accuracy", "macro_f1")
            )
            print(f"{d['variant']:<16}{d['model']:<36}{d['against']:<30}{cells}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--per-class", type=int, default=600, help="FER+ Training faces per class at most (default 600)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", default="/tmp/affectlens-geometry-head", help="folder of the cached features")
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/geometry_head.json")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from affectlens.options import Options
    from affectlens.pipeline.image import Analyzer

    analyzer = Analyzer(Options().replace(mesh="on"), threads=1)
    if analyzer.model.cfg.name != "ferplus-lite0":
        raise SystemExit(f"the default model is {analyzer.model.cfg.name}, this benchmark measures ferplus-lite0")
    train, val = features(args, analyzer, "train"), features(args, analyzer, "val")
    tests = {v: features(args, analyzer, "test", v) for v in VARIANTS}
    coverage = {"train": train, "val": val} | {f"test {v}": f for v, f in tests.items()}
    coverage = {k: {"n": len(f.labels), "meshed": int(f.meshed.sum())} for k, f in coverage.items()}
    result = {
        "command": "AFFECTLENS_DATA=../shared/datasets nice -n 10 python benchmarks/geometry_head.py --write",
        "model": "ferplus-lite0 (logits, mirror averaging included)",
        "data": f"FER+ majority label; Training: at most {args.per_class} per class (seed {args.seed}); "
        "PublicTest; scored on all of PrivateTest",
        "fallback": "faces without a mesh are scored by the appearance-only head of the same weighting "
        "(geometry-only heads: scored on the meshed faces only)",
        "mesh_coverage": coverage,
        "protocols": {},
    }
    # how much more often the shipped model is right on faces it was trained on (the stacking bias)
    result["shipped_on_fitting_faces"] = {
        split: {k: v for k, v in scores(f, shipped_probs(f), "ferplus-lite0").items() if k != "recall"}
        for split, f in (("Training sample", train), ("PublicTest", val))
    }
    for split, v in result["shipped_on_fitting_faces"].items():
        print(f"shipped ferplus-lite0 on the {split}: balanced accuracy {v['balanced_accuracy']:.4f}, n {v['n']}")
    for protocol in PROTOCOLS:
        heads, chosen = choose_heads(train, val, protocol, args.seed)
        rows, deltas = evaluate(args, heads, tests)
        print(f"\n===== heads: {protocol} =====")
        print_tables(rows, deltas, coverage)
        keep = verdict(deltas)
        for model, e in keep.items():
            wins, losses = e["wins"] or "none", e["losses"] or "none"
            print(f"{model}: {'KEEP' if e['keep'] else 'do not ship'} (wins: {wins}; losses: {losses})")
        result["protocols"][protocol] = {
            "heads": {head_title(n, b): v for (n, b), v in chosen.items()},
            "rows": rows,
            "deltas": deltas,
            "verdict": keep,
        }
    if args.write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "geometry_head.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {RESULTS / 'geometry_head.json'}")


if __name__ == "__main__":
    main()
