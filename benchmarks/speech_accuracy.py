"""Speaker-independent accuracy of the speech emotion recipes on RAVDESS (8 classes), and their speed.

Protocol: k folds of whole actors (default 6 folds of 4 actors, 2 male + 2 female each); each
fold trains a recipe on the other 20 actors and tests on the 4 held out. Recipes:

- ``cnn`` (:mod:`affectlens.train.speech_cnn`, the default model ``ravdess-cnn``): tested on
  every held-out utterance clean, at 8 kHz and with white noise at 10 dB SNR (about 50 minutes
  of training on 2 cores: 6 folds of 30 epochs; resumable with ``--cache``). Then the same
  folds trained on one sentence only and tested on both, to see how much hangs on the words
  (about 25 minutes more).
- ``svm`` (:mod:`affectlens.train.speech`, ``ravdess-svm`` and ``ravdess-svm-narrow``): both
  feature bands, plus degraded copies (8 kHz, clipped, noisy) of every 8th utterance.

Prints per-fold tables (accuracy, macro-F1, ECE), mean ± std, the confusion matrices pooled
over folds, the accuracy on the canonical labels (calm → neutral), by intensity, and the
shipped default model's speed; ``--write`` also writes benchmarks/results/speech.json (``--out PATH``: there).

    python benchmarks/speech_accuracy.py --data ../shared/datasets/ravdess --cache /tmp/speech_cache [--write]

``--cache DIR`` keeps the trimmed clips, the acoustic features and the finished CNN folds
between runs; ``--recipes cnn`` or ``--recipes svm`` runs one recipe.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlens.eval.datasets.ravdess import load_ravdess  # noqa: E402
from affectlens.eval.metrics import accuracy, confusion_matrix, macro_f1  # noqa: E402
from affectlens.labels import CANONICAL  # noqa: E402
from affectlens.models.expression import softmax  # noqa: E402
from affectlens.models.speech import SPEECH_LABELS, to_canonical  # noqa: E402
from affectlens.train.speech import crossvalidate, cv_report, extract_features, format_table  # noqa: E402


def speed(paths: list[str]) -> dict:
    """Milliseconds of CPU per second of audio: decoding, VAD, features and classifier (1 thread)."""
    from affectlens.io.audio import load_audio
    from affectlens.pipeline.speech import SpeechAnalyzer

    an = SpeechAnalyzer()
    an.analyze(load_audio(paths[0]))  # warm-up (numba compiles librosa's kernels)
    t0, secs = time.process_time(), 0.0
    for p in paths:
        audio = load_audio(p)
        an.analyze(audio)
        secs += audio.duration_ms / 1000
    return {
        "model": an.model.cfg.name,
        "clips": len(paths),
        "audio_seconds": round(secs, 1),
        "ms_cpu_per_audio_second": round(1000 * (time.process_time() - t0) / secs, 1),
    }


def cnn_report(data, n_folds: int, cache: str | None) -> dict:
    """The spectrogram network's k-fold results (clean, 8 kHz, noisy), canonical and by intensity."""
    from affectlens.train.speech_cnn import CnnRecipe, crossvalidate, fold_report, format_report, trimmed_clips

    clips = trimmed_clips(data, cache)
    state = Path(cache) / f"cnn-cv-{n_folds}.npz" if cache else None
    logits = crossvalidate(clips, data, n_folds, CnnRecipe(), state)
    r = fold_report(logits, data, n_folds)
    print(f"\n== cnn (ravdess-cnn recipe), {n_folds} folds of whole actors")
    print(format_report(r))
    print()
    r["views"] = views(logits["clean"], data)
    r["unseen_sentence"] = sentence_report(clips, data, n_folds, cache)
    return r


def sentence_report(clips, data, n_folds: int, cache: str | None) -> dict:
    """Unseen speakers and unseen words: each fold trains the recipe on sentence 1 of its 20
    training actors only, then tests all utterances of its 4 held-out actors; the held-out
    accuracy on sentence 2 (words never heard in training) beside sentence 1 (the same words as
    in training, said by new speakers) shows what the model learned from the words themselves."""
    from affectlens.eval.datasets.ravdess import actor_folds
    from affectlens.train.speech_cnn import CONDITIONS, CnnRecipe, crossvalidate

    st = data.statements
    state = Path(cache) / f"cnn-cv-sentence1-{n_folds}.npz" if cache else None
    logits = crossvalidate(clips, data, n_folds, CnnRecipe(), state, train_on=st == 1)
    out: dict = {}
    print(f'trained on sentence 1 only ("Kids are talking by the door"), {n_folds} folds of whole actors:')
    for c in CONDITIONS:
        for s, name in ((1, "sentence 1 (words seen)"), (2, "sentence 2 (words unseen)")):
            accs = []
            for held in actor_folds(data.actors, n_folds):
                m = np.isin(data.actors, held) & (st == s)
                accs.append(float((logits[c][m].argmax(1) == data.labels[m]).mean()))
            m = st == s
            cm = confusion_matrix(data.labels[m], logits[c][m].argmax(1), len(SPEECH_LABELS))
            out[f"{c} / {name}"] = {
                "acc_mean": float(np.mean(accs)),
                "acc_std": float(np.std(accs)),
                "pooled_macro_f1": macro_f1(cm),
                "n": int(m.sum()),
            }
            print(
                f"  {c:24s} {name:26s} accuracy {np.mean(accs):.3f} ± {np.std(accs):.3f}, macro-F1 {macro_f1(cm):.3f}"
            )
    return out


def views(scores: np.ndarray, data) -> dict:
    """Pooled held-out accuracy on the canonical labels (calm counted as neutral) and by intensity."""
    out = {}
    y_canon = np.array([CANONICAL.index(c) for c in to_canonical_names(data.labels)])
    canon = to_canonical(softmax(scores), SPEECH_LABELS)
    cm7 = confusion_matrix(y_canon, canon.argmax(axis=1), len(CANONICAL))
    out["canonical"] = {"accuracy": accuracy(cm7), "macro_f1": macro_f1(cm7)}
    print(
        f"canonical space (calm counted as neutral, 7 classes): accuracy {accuracy(cm7):.3f}, "
        f"macro-F1 {macro_f1(cm7):.3f}"
    )
    strong = data.intensity == 2
    for name, m in (("normal intensity", ~strong), ("strong intensity", strong)):
        cm = confusion_matrix(data.labels[m], scores[m].argmax(axis=1), len(SPEECH_LABELS))
        out[name.replace(" ", "_")] = {"accuracy": accuracy(cm), "macro_f1": macro_f1(cm)}
        print(f"{name}: accuracy {accuracy(cm):.3f}, macro-F1 {macro_f1(cm):.3f} (pooled over folds)")
    return out


DEGRADATIONS = ("clean", "8 kHz", "clipped x10", "white noise 10 dB SNR")


def degrade(y: np.ndarray, kind: str, rng: np.random.Generator) -> np.ndarray:
    """The same utterance as a telephone line, an overdriven microphone or a noisy room would give it."""
    from scipy.signal import resample_poly

    if kind == "8 kHz":  # down to 8 kHz and back up, as load_audio does for 8 kHz files
        return resample_poly(resample_poly(y, 1, 2), 2, 1).astype(np.float32)
    if kind == "clipped x10":
        return np.clip(y * 10.0, -1.0, 1.0)
    if kind == "white noise 10 dB SNR":
        rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
        return np.clip(y + rng.normal(0, rms / np.sqrt(10.0), len(y)), -1, 1).astype(np.float32)
    return y


def robustness(xs: dict, data, n_folds: int, every: int) -> dict:
    """Held-out accuracy on every ``every``-th utterance, clean and degraded: each fold's models
    test their own held-out actors; the degraded audio goes through VAD, model choice (narrow
    band for telephone-band audio, as :class:`~affectlens.pipeline.speech.SpeechAnalyzer` does)
    and features as at inference. ``full only`` always uses the full-band model."""
    from affectlens.detect.vad import SileroVAD
    from affectlens.eval.datasets.ravdess import actor_folds
    from affectlens.io.audio import load_audio
    from affectlens.models.speech import acoustic_features, is_narrowband
    from affectlens.train.speech import make_classifier, trim_to_speech

    vad, rng = SileroVAD(), np.random.default_rng(0)
    pred = {(k, m): [] for k in DEGRADATIONS for m in ("pipeline", "full only")}
    truth = []
    subset = np.zeros(len(data), bool)
    subset[::every] = True
    for held in actor_folds(data.actors, n_folds):
        test = np.isin(data.actors, held)
        clfs = {b: make_classifier().fit(x[~test], data.labels[~test]) for b, x in xs.items()}
        for i in np.flatnonzero(test & subset):
            y = load_audio(data.paths[i]).samples
            truth.append(data.labels[i])
            for k in DEGRADATIONS:
                seg = trim_to_speech(degrade(y, k, rng), vad)
                band = "narrow" if "narrow" in clfs and is_narrowband(seg) else "full"
                f = {b: acoustic_features(seg, band=b) for b in {band, "full"}}
                pred[(k, "pipeline")].append(int(clfs[band].predict_proba(f[band][None])[0].argmax()))
                pred[(k, "full only")].append(int(clfs["full"].predict_proba(f["full"][None])[0].argmax()))
    truth = np.array(truth)
    return {
        f"{k} / {m}": {"accuracy": float((np.array(v) == truth).mean()), "n": len(truth)} for (k, m), v in pred.items()
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", default=str(ROOT.parent / "shared" / "datasets" / "ravdess"))
    p.add_argument("--folds", type=int, default=6)
    p.add_argument("--cache", default=None, metavar="DIR", help="folder for feature caches (ravdess-<band>.npz)")
    p.add_argument("--out", default=None, help="write the results here instead")
    p.add_argument("--write", action="store_true", help="write benchmarks/results/speech.json (default: print only)")
    p.add_argument("--recipes", default="cnn,svm", help="recipes to evaluate: cnn, svm (default both)")
    p.add_argument(
        "--robust-every",
        type=int,
        default=8,
        metavar="N",
        help="degraded-audio accuracy on every N-th utterance (0: skip; default 8)",
    )
    args = p.parse_args()
    data = load_ravdess(args.data)
    t0 = time.time()
    print(
        f"RAVDESS speech, {len(data)} utterances, {len(np.unique(data.actors))} actors, "
        f"{args.folds} folds of whole actors (speaker-independent), 8 classes (chance 0.125)"
    )
    report: dict = {}
    recipes = {r.strip() for r in args.recipes.split(",") if r.strip()}
    if not recipes or recipes - {"cnn", "svm"}:
        p.error(f"unknown recipe in {args.recipes!r}; valid: cnn, svm")
    if "cnn" in recipes:
        report["cnn"] = cnn_report(data, args.folds, args.cache)
    xs = {}
    for band in ("full", "narrow") if "svm" in recipes else ():
        cache = Path(args.cache) / f"ravdess-{band}.npz" if args.cache else None
        x = xs[band] = extract_features(data, cache, band=band)
        cv = crossvalidate(x, data, args.folds)
        print(f"\n== {band} band ({'0-8' if band == 'full' else '0-4'} kHz features)\n")
        print(format_table(cv))
        r = report[band] = cv_report(cv)
        r.update(views(np.log(np.clip(cv.probs, 1e-12, 1.0)), data))
    if args.robust_every and "svm" in recipes:
        report["robustness"] = rob = robustness(xs, data, args.folds, args.robust_every)
        print(
            f"\nheld-out accuracy on degraded audio (every {args.robust_every}th utterance, "
            f"n={rob['clean / pipeline']['n']}); pipeline = narrow-band model for telephone-band audio:"
        )
        for k, v in rob.items():
            print(f"  {k:36s} {v['accuracy']:.3f}")
    try:
        report["speed"] = speed(list(data.paths[:: max(1, len(data) // 20)]))
        print(
            f"\nspeed ({report['speed']['model']}, 1 thread): {report['speed']['ms_cpu_per_audio_second']} ms CPU "
            "per second of audio (decoding, VAD, front end, network)"
        )
    except LookupError as exc:
        print(f"speed not measured: {exc}")
    report["seconds"] = round(time.time() - t0, 1)
    out = args.out or (str(ROOT / "benchmarks" / "results" / "speech.json") if args.write else None)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {out}")
    return 0


def to_canonical_names(labels: np.ndarray) -> list[str]:
    from affectlens.models.speech import RAVDESS_TO_CANONICAL

    return [RAVDESS_TO_CANONICAL[SPEECH_LABELS[i]] for i in labels]


if __name__ == "__main__":
    sys.exit(main())
