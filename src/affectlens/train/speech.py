"""Train the speech emotion model on RAVDESS, evaluate it by actor, export it to ONNX.

Needs the ``[train]`` extra (scikit-learn, skl2onnx, librosa) and ``[audio]`` (decoding, voice activity detection).

Recipe: each utterance is trimmed to its speech (first to last VAD segment, the same VAD as at
inference), turned into :func:`~affectlens.models.speech.acoustic_features`, standardised, and
classified by an RBF support-vector machine whose scores become probabilities by sigmoid
(Platt) calibration on 5 internal folds, then a temperature fitted on the held-out-actor
probabilities. Evaluation is
speaker-independent only: k folds of whole actors (:func:`~affectlens.eval.datasets.ravdess.actor_folds`,
default 6 folds of 4 actors); the final model is then fitted on all 24 actors.

Two models are trained, on the same recipe: ``ravdess-svm`` on full-band features (0–8 kHz)
and ``ravdess-svm-narrow`` on telephone-band features (0–4 kHz, for 8 kHz recordings).
Reproduce the shipped models (about 10 minutes of CPU, mostly feature extraction)::

    python -m affectlens.train.speech --data ../shared/datasets/ravdess \
        --out src/affectlens/weights/ravdess-svm
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.eval.calibration import fit_temperature
from affectlens.eval.datasets.ravdess import SpeechSet, actor_folds, load_ravdess
from affectlens.eval.metrics import accuracy, confusion_matrix, expected_calibration_error, macro_f1
from affectlens.models.expression import softmax
from affectlens.models.speech import BANDS, N_FEATURES, SPEECH_LABELS, acoustic_features

log = logging.getLogger("affectlens")

MODEL_NAME = "ravdess-svm"


def model_name(band: str) -> str:
    return MODEL_NAME if band == "full" else f"{MODEL_NAME}-{band}"


OUTPUT = "probabilities"
#: The licence of every speech model trained on RAVDESS (its data licence carries over).
RAVDESS_WEIGHTS_LICENCE = (
    "CC BY-NC-SA 4.0 (weights trained by affectlens on RAVDESS, whose licence is non-commercial; see model card)"
)


@dataclass(frozen=True)
class SpeechRecipe:
    """The classifier's hyper-parameters (chosen once, a priori, not tuned on the folds)."""

    C: float = 10.0
    gamma: str = "scale"
    seed: int = 0


def _sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError(
            "training the speech model needs the [train] extra: pip install 'affectlens[train]'"
        ) from None


def trim_to_speech(samples: np.ndarray, vad) -> np.ndarray:
    """The stretch from the first to the last speech segment (the whole clip when none is found)."""
    segs = vad.segments(samples)
    if not segs:
        return samples
    a, b = int(segs[0].start_ms * 16), int(segs[-1].end_ms * 16)
    return samples[a:b]


def extract_features(
    data: SpeechSet, cache: str | Path | None = None, progress: bool = True, band: str = "full"
) -> np.ndarray:
    """(N, N_FEATURES) ``band`` features of every utterance; cached in ``cache`` (.npz) when given."""
    from tqdm.auto import tqdm

    from affectlens.detect.vad import SileroVAD
    from affectlens.io.audio import load_audio

    if cache and Path(cache).is_file():
        z = np.load(cache, allow_pickle=False)
        if (
            tuple(z["paths"]) == tuple(Path(p).name for p in data.paths)
            and z["x"].shape[1] == N_FEATURES
            and str(z["band"]) == band
        ):
            return z["x"]
        log.info("feature cache %s does not match the data; recomputing", cache)
    vad = SileroVAD()
    bar = tqdm(data.paths, desc="features", unit="clip", disable=not (progress and sys.stderr.isatty()), leave=False)
    x = np.stack([acoustic_features(trim_to_speech(load_audio(p).samples, vad), band=band) for p in bar])
    if cache:
        Path(cache).parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, x=x, paths=np.array([Path(p).name for p in data.paths]), band=np.array(band))
    return x


def make_classifier(recipe: SpeechRecipe = SpeechRecipe()):
    _sklearn()
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    svm = SVC(C=recipe.C, gamma=recipe.gamma, random_state=recipe.seed)
    return make_pipeline(StandardScaler(), CalibratedClassifierCV(svm, method="sigmoid", cv=5, ensemble=False))


@dataclass(frozen=True)
class FoldResult:
    actors: tuple[int, ...]
    accuracy: float
    macro_f1: float
    ece: float  # of the classifier's own (Platt-scaled) probabilities
    n: int
    temperature: float = 1.0  # fitted on the other folds' held-out probabilities
    ece_scaled: float = float("nan")  # this fold's ECE after that temperature


@dataclass(frozen=True)
class CrossValidation:
    """Speaker-independent k-fold results; ``confusion`` pools the held-out predictions of all folds."""

    folds: tuple[FoldResult, ...]
    confusion: np.ndarray
    probs: np.ndarray  # out-of-fold probabilities, dataset order
    labels: tuple[str, ...]
    temperature: float = 1.0  # fitted on all out-of-fold probabilities (shipped with the final model)

    def summary(self) -> dict:
        acc = np.array([f.accuracy for f in self.folds])
        f1 = np.array([f.macro_f1 for f in self.folds])
        ece = np.array([f.ece for f in self.folds])
        ece_t = np.array([f.ece_scaled for f in self.folds])
        return {
            "acc_mean": float(acc.mean()),
            "acc_std": float(acc.std()),
            "macro_f1_mean": float(f1.mean()),
            "macro_f1_std": float(f1.std()),
            "ece_mean": float(ece.mean()),
            "ece_scaled_mean": float(ece_t.mean()),
            "temperature": self.temperature,
            "folds": len(self.folds),
            "pooled_acc": accuracy(self.confusion),
            "pooled_macro_f1": macro_f1(self.confusion),
        }


def crossvalidate(
    x: np.ndarray, data: SpeechSet, n_folds: int = 6, recipe: SpeechRecipe = SpeechRecipe(), progress: bool = True
) -> CrossValidation:
    """Train on all but one group of actors, test on the held-out actors, for every group."""
    from tqdm.auto import tqdm

    y, k = data.labels, len(data.label_names)
    probs = np.zeros((len(y), k))
    folds = []
    groups = actor_folds(data.actors, n_folds)
    for held in tqdm(groups, desc="folds", disable=not (progress and sys.stderr.isatty()), leave=False):
        test = np.isin(data.actors, held)
        clf = make_classifier(recipe).fit(x[~test], y[~test])
        p = clf.predict_proba(x[test])
        probs[test] = p
        cm = confusion_matrix(y[test], p.argmax(axis=1), k)
        folds.append(
            FoldResult(
                tuple(int(a) for a in held),
                accuracy(cm),
                macro_f1(cm),
                expected_calibration_error(p, y[test]),
                int(test.sum()),
            )
        )
    # temperature scaling, cross-validated: each fold's T is fitted on the other folds' held-out
    # probabilities, then that fold's ECE is measured after scaling
    logp = np.log(np.clip(probs, 1e-12, 1.0))
    scaled = []
    for held, f in zip(groups, folds):
        test = np.isin(data.actors, held)
        t = fit_temperature(logp[~test], y[~test])
        p = softmax(logp[test], t)
        scaled.append(dataclasses.replace(f, temperature=t, ece_scaled=expected_calibration_error(p, y[test])))
    cm = confusion_matrix(y, probs.argmax(axis=1), k)
    return CrossValidation(tuple(scaled), cm, probs, data.label_names, fit_temperature(logp, y))


def export_onnx(clf, path: str | Path) -> None:
    """Write the fitted pipeline as ONNX: input ``features`` (N, N_FEATURES) float32, output
    ``probabilities`` (N, 8) in :data:`SPEECH_LABELS` order."""
    try:
        from skl2onnx import to_onnx
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError:
        raise ImportError(
            "exporting the speech model needs the [train] extra: pip install 'affectlens[train]'"
        ) from None
    if tuple(int(c) for c in clf.classes_) != tuple(range(len(SPEECH_LABELS))):
        raise ValueError(f"classifier classes {clf.classes_} are not 0..{len(SPEECH_LABELS) - 1}")
    onx = to_onnx(
        clf,
        initial_types=[("features", FloatTensorType([None, N_FEATURES]))],
        options={id(clf.steps[-1][1]): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
        final_types=None,
    )
    for out in onx.graph.output:
        if out.name == "probabilities":
            break
    else:
        raise RuntimeError(f"exported graph has no 'probabilities' output: {[o.name for o in onx.graph.output]}")
    Path(path).write_bytes(onx.SerializeToString())


def model_entry(cv: CrossValidation, file: str, n_folds: int, band: str = "full") -> dict:
    s = cv.summary()
    what = "16 kHz speech" if band == "full" else "telephone-band speech, 0-4 kHz"
    return {
        "name": model_name(band),
        "kind": "speech",
        "band": band,
        "file": file,
        "output": OUTPUT,
        "labels": list(SPEECH_LABELS),
        "description": f"8 RAVDESS voice emotions (acoustic statistics + RBF SVM, {what})",
        "licence": RAVDESS_WEIGHTS_LICENCE,
        "card": "MODEL_CARD.md",
        "temperature": round(cv.temperature, 4),
        "metrics": {
            "ravdess_actor_kfold_acc": round(s["acc_mean"], 4),
            "ravdess_actor_kfold_acc_std": round(s["acc_std"], 4),
            "ravdess_actor_kfold_macro_f1": round(s["macro_f1_mean"], 4),
            "ravdess_actor_kfold_macro_f1_std": round(s["macro_f1_std"], 4),
            "ravdess_actor_kfold_ece_unscaled": round(s["ece_mean"], 4),
            "ravdess_actor_kfold_ece": round(s["ece_scaled_mean"], 4),
            "ravdess_actor_kfold_folds": n_folds,
        },
    }


def cv_report(cv: CrossValidation) -> dict:
    return {
        "summary": cv.summary(),
        "labels": list(cv.labels),
        "confusion": cv.confusion.tolist(),
        "folds": [f.__dict__ | {"actors": list(f.actors)} for f in cv.folds],
    }


def format_table(cv: CrossValidation) -> str:
    import pandas as pd

    rows = [
        {
            "fold": i + 1,
            "held-out actors": " ".join(map(str, f.actors)),
            "n": f.n,
            "accuracy": f"{f.accuracy:.3f}",
            "macro-F1": f"{f.macro_f1:.3f}",
            "ECE": f"{f.ece:.3f}",
            "T": f"{f.temperature:.2f}",
            "ECE after T": f"{f.ece_scaled:.3f}",
        }
        for i, f in enumerate(cv.folds)
    ]
    s = cv.summary()
    rows.append(
        {
            "fold": "mean±std",
            "held-out actors": "",
            "n": sum(f.n for f in cv.folds),
            "accuracy": f"{s['acc_mean']:.3f}±{s['acc_std']:.3f}",
            "macro-F1": f"{s['macro_f1_mean']:.3f}±{s['macro_f1_std']:.3f}",
            "ECE": f"{s['ece_mean']:.3f}",
            "T": f"{s['temperature']:.2f}",
            "ECE after T": f"{s['ece_scaled_mean']:.3f}",
        }
    )
    table = pd.DataFrame(rows).to_string(index=False)
    cm = pd.DataFrame(cv.confusion, index=[f"true {label}" for label in cv.labels], columns=list(cv.labels))
    recall = cv.confusion.diagonal() / np.maximum(cv.confusion.sum(axis=1), 1)
    cm["recall"] = np.round(recall, 3)
    return table + "\n\nconfusion over all held-out folds (rows true, columns predicted):\n" + cm.to_string()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m affectlens.train.speech", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="the ravdess folder (Actor_01..24)")
    p.add_argument("--out", required=True, help="output folder for the ONNX files, models.json and cv-<band>.json")
    p.add_argument("--folds", type=int, default=6, help="number of actor folds (default 6 = 4 actors each)")
    p.add_argument(
        "--bands",
        default="full,narrow",
        help="feature bands to train a model for: full (0-8 kHz), narrow (0-4 kHz); default both",
    )
    p.add_argument("--cache", default=None, metavar="DIR", help="folder for feature caches to reuse between runs")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="affectlens: %(message)s")
    bands = [b.strip() for b in args.bands.split(",") if b.strip()]
    bad = [b for b in bands if b not in BANDS]
    if bad or not bands:
        p.error(f"unknown band {', '.join(bad) or '(none)'}; valid: {', '.join(BANDS)}")
    data = load_ravdess(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    t0 = time.time()
    for band in bands:
        cache = Path(args.cache) / f"ravdess-{band}.npz" if args.cache else None
        x = extract_features(data, cache, band=band)
        log.info("%s-band features of %d utterances after %.0f s", band, len(data), time.time() - t0)
        cv = crossvalidate(x, data, args.folds)
        sys.stdout.write(f"\n{model_name(band)} ({band} band)\n" + format_table(cv) + "\n")
        clf = make_classifier().fit(x, data.labels)
        file = f"{model_name(band)}.onnx"
        export_onnx(clf, out / file)
        entries.append(model_entry(cv, file, args.folds, band))
        (out / f"cv-{band}.json").write_text(json.dumps(cv_report(cv), indent=2) + "\n")
        log.info("wrote %s (%.0f kB)", out / file, (out / file).stat().st_size / 1e3)
    (out / "models.json").write_text(json.dumps({"models": entries}, indent=2) + "\n")
    log.info("done in %.0f s", time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
