"""Train the spectrogram speech-emotion network on RAVDESS, evaluate it by actor, export to ONNX.

Needs the ``[train]`` extra (torch, onnx, librosa for the mel filter bank) and ``[audio]`` (decoding and
voice activity detection).

Recipe (fixed a priori, nothing tuned on the held-out actors):

- **Input.** Each utterance is trimmed to its speech with the same voice activity detector as at
  inference, loudness-normalised and turned into a power spectrogram
  (:func:`~affectlens.models.speech.power_spectrogram`: 32 ms windows every 10 ms). The network
  itself holds the rest of the front end: 64 mel bands (50 Hz-8 kHz), decibels, and a per-band
  standardisation measured on the training clips. So the ONNX file takes the power spectrogram
  and inference needs numpy only.
- **Network** (``SpeechNet``, built by :func:`build_net`; 0.53 M parameters). A 2-D convolution stem over the
  mel-time plane (16 channels, frequency halved), then a time-delay network: four 1-D
  convolutions over time (kernel 5, then 3 with dilation 2 and 3, then 1). Mean and standard
  deviation are pooled over the utterance's frames, followed by two fully connected layers.
  The network works on utterances of any length.
- **Augmentation**, per training clip and epoch. A random crop of at most 3 s, and a speed
  change of 0.9-1.1x. With probability 0.5, noise of random colour (white to brown) at a
  signal-to-noise ratio of 0-30 dB. With probability 0.2, the telephone band (nothing above
  4 kHz); with probability 0.1, clipping. On the mel bands, SpecAugment: two frequency masks of
  up to 8 bands and two time masks of up to 20 frames.
- **Training.** AdamW (weight decay 0.05), one-cycle learning rate peaking at 3e-3, label
  smoothing 0.1, batch 32, 30 epochs. The last epoch is kept (there is no validation-based
  stopping, so the held-out actors never steer training).

Evaluation is speaker-independent only: k folds of whole actors
(:func:`~affectlens.eval.datasets.ravdess.actor_folds`; default 6 folds of 4 actors). Each fold
trains on the other actors and tests on its own held-out actors: on clean audio, at 8 kHz, and
with white noise at 10 dB SNR. The shipped network is then trained on all 24 actors, and its
temperature is fitted on the pooled held-out logits of the folds. Reproduce the shipped model
(about an hour on 2 CPU cores)::

    python -m affectlens.train.speech_cnn --data ../shared/datasets/ravdess \\
        --out src/affectlens/weights/ravdess-cnn --cache /tmp/speech_cache
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from affectlens.eval.calibration import fit_temperature
from affectlens.eval.datasets.ravdess import SpeechSet, actor_folds, load_ravdess
from affectlens.eval.metrics import accuracy, confusion_matrix, expected_calibration_error, macro_f1
from affectlens.io.audio import SAMPLE_RATE
from affectlens.models.expression import softmax
from affectlens.models.speech import N_BINS, N_FFT, SPEECH_LABELS, loudness_normalise, narrowband, power_spectrogram
from affectlens.train.loop import _torch
from affectlens.train.speech import RAVDESS_WEIGHTS_LICENCE

log = logging.getLogger("affectlens")

MODEL_NAME = "ravdess-cnn"
INPUT = "power"
OUTPUT = "logits"
#: The conditions every held-out fold is tested in.
CONDITIONS = ("clean", "8 kHz", "white noise 10 dB SNR")


@dataclass(frozen=True)
class CnnRecipe:
    """The recipe's settings (see the module docstring); fixed before any fold was scored."""

    epochs: int = 30
    batch: int = 32
    lr: float = 3e-3
    weight_decay: float = 0.05
    label_smoothing: float = 0.1
    crop_s: float = 3.0
    n_mels: int = 64
    fmin: float = 50.0
    noise_p: float = 0.5
    snr_db: tuple[float, float] = (0.0, 30.0)
    narrow_p: float = 0.2
    clip_p: float = 0.1
    speed: tuple[float, float] = (0.9, 1.1)
    seed: int = 0


# ---------------------------------------------------------------- data


def trimmed_clips(data: SpeechSet, cache: str | Path | None = None, progress: bool = True) -> list[np.ndarray]:
    """Every utterance decoded to 16 kHz and trimmed to its speech (VAD); cached as .npz when asked."""
    from tqdm.auto import tqdm

    from affectlens.detect.vad import SileroVAD
    from affectlens.io.audio import load_audio
    from affectlens.train.speech import trim_to_speech

    names = np.array([Path(p).name for p in data.paths])
    path = Path(cache) / "ravdess-trimmed.npz" if cache else None
    if path and path.is_file():
        z = np.load(path, allow_pickle=False)
        if tuple(z["names"]) == tuple(names):
            return np.split(z["samples"], z["offsets"][1:-1])
        log.info("clip cache %s does not match the data; recomputing", path)
    vad = SileroVAD()
    bar = tqdm(data.paths, desc="trim", unit="clip", disable=not (progress and sys.stderr.isatty()), leave=False)
    clips = [trim_to_speech(load_audio(p).samples, vad).astype(np.float32) for p in bar]
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        offsets = np.concatenate([[0], np.cumsum([len(c) for c in clips])])
        np.savez(path, samples=np.concatenate(clips), offsets=offsets, names=names)
    return clips


def coloured_noise(n: int, slope: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-RMS noise whose power falls as 1/f**slope (0 white, 1 pink, 2 brown)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spec), dtype=np.float64)
    f[0] = 1.0
    x = np.fft.irfft(spec / f ** (slope / 2), n)
    return (x / (np.sqrt(np.mean(x**2)) + 1e-12)).astype(np.float32)


def add_noise(y: np.ndarray, snr_db: float, noise: np.ndarray) -> np.ndarray:
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2)))
    return y + noise * np.float32(rms / 10 ** (snr_db / 20))


#: Clipping level of the clipping augmentation, after loudness normalisation (RMS 0.05): -14 dBFS.
CLIP_AT = 0.2


def augment(y: np.ndarray, recipe: CnnRecipe, rng: np.random.Generator) -> np.ndarray:
    """One random training view of a clip (crop, speed, noise, telephone band, clipping)."""
    speed = rng.uniform(*recipe.speed)
    n = int(len(y) / speed)
    y = np.interp(np.arange(n) * speed, np.arange(len(y)), y).astype(np.float32)
    crop = int(recipe.crop_s * SAMPLE_RATE)
    if len(y) > crop:
        a = rng.integers(0, len(y) - crop + 1)
        y = y[a : a + crop]
    y = loudness_normalise(y)
    if rng.random() < recipe.noise_p:
        y = add_noise(y, rng.uniform(*recipe.snr_db), coloured_noise(len(y), rng.uniform(0, 2), rng))
    if rng.random() < recipe.narrow_p:
        spec = np.fft.rfft(y)
        spec[len(spec) // 2 :] = 0
        y = np.fft.irfft(spec, len(y)).astype(np.float32)
    if rng.random() < recipe.clip_p:
        g = rng.uniform(2, 10)
        y = np.clip(y * g, -CLIP_AT, CLIP_AT)
    return y


def batch_spectrograms(clips: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Zero-padded (B, N_BINS, T) power spectrograms and each clip's frame count."""
    specs = [power_spectrogram(c) for c in clips]
    t = max(s.shape[1] for s in specs)
    out = np.zeros((len(specs), N_BINS, t), np.float32)
    for i, s in enumerate(specs):
        out[i, :, : s.shape[1]] = s
    return out, np.array([s.shape[1] for s in specs])


def degrade(y: np.ndarray, condition: str, rng: np.random.Generator) -> np.ndarray:
    """A held-out clip as a phone line (8 kHz) or a noisy room (white noise, 10 dB SNR) gives it."""
    if condition == "8 kHz":
        return narrowband(y)
    if condition == "white noise 10 dB SNR":
        return np.clip(add_noise(y, 10.0, rng.standard_normal(len(y)).astype(np.float32)), -1, 1)
    return y


# ---------------------------------------------------------------- network


def mel_filterbank(recipe: CnnRecipe) -> np.ndarray:
    """(n_mels, N_BINS) mel filter bank of the network's front end (librosa, fmin to 8 kHz)."""
    import librosa

    return librosa.filters.mel(
        sr=SAMPLE_RATE, n_fft=N_FFT, n_mels=recipe.n_mels, fmin=recipe.fmin, fmax=SAMPLE_RATE / 2
    )


def build_net(recipe: CnnRecipe, mean: np.ndarray, std: np.ndarray):
    """A ``SpeechNet`` whose front end standardises each mel band by ``mean`` and ``std`` (dB)."""
    torch = _torch()
    nn = torch.nn

    class SpeechNet(nn.Module):
        """Power spectrogram (N, 257, T) → logits (N, 8); see the module docstring."""

        def __init__(self):
            super().__init__()
            self.register_buffer("fb", torch.tensor(mel_filterbank(recipe), dtype=torch.float32))
            self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1))
            self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1))
            self.stem = nn.Sequential(
                nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d((2, 1))
            )
            c = 16 * (recipe.n_mels // 2)

            def block(cin, cout, k, d):
                return [nn.Conv1d(cin, cout, k, padding=d * (k - 1) // 2, dilation=d), nn.BatchNorm1d(cout), nn.ReLU()]

            self.tdnn = nn.Sequential(
                *block(c, 128, 5, 1), *block(128, 128, 3, 2), *block(128, 128, 3, 3), *block(128, 256, 1, 1)
            )
            self.head = nn.Sequential(
                nn.Linear(512, 128), nn.BatchNorm1d(128), nn.ReLU(), nn.Dropout(0.3), nn.Linear(128, len(SPEECH_LABELS))
            )

        def logmel(self, power):
            mel = torch.matmul(self.fb, power)
            return (10 * torch.log10(mel + 1e-6) - self.mean) / self.std

        def forward(self, power, frames=None, specaugment=None):
            x = self.logmel(power)
            if specaugment is not None:
                x = specaugment(x)
            n, f, t = x.shape
            h = self.stem(x.unsqueeze(1)).reshape(n, -1, t)
            h = self.tdnn(h)
            if frames is None:
                mu, var = h.mean(dim=2), h.var(dim=2, unbiased=False)
            else:  # statistics over each clip's own frames only
                m = (torch.arange(t).view(1, 1, -1) < frames.view(-1, 1, 1)).float()
                cnt = m.sum(dim=2).clamp(min=1)
                mu = (h * m).sum(dim=2) / cnt
                var = ((h - mu.unsqueeze(2)) ** 2 * m).sum(dim=2) / cnt
            return self.head(torch.cat([mu, (var + 1e-5).sqrt()], dim=1))  # +eps: finite gradient at var 0

    return SpeechNet()


def specaugment_fn(rng: np.random.Generator):
    _torch()

    def apply(x):
        x = x.clone()
        n, f, t = x.shape
        for i in range(n):
            for _ in range(2):
                w = int(rng.integers(0, 9))
                a = int(rng.integers(0, f - w + 1))
                x[i, a : a + w, :] = 0
                w = int(rng.integers(0, min(21, t // 4 + 1)))
                a = int(rng.integers(0, t - w + 1))
                x[i, :, a : a + w] = 0
        return x

    return apply


def band_stats(clips: list[np.ndarray], recipe: CnnRecipe) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation (dB) of each mel band over the frames of ``clips``."""
    fb = mel_filterbank(recipe)
    db = np.concatenate([10 * np.log10(fb @ power_spectrogram(c) + 1e-6) for c in clips], axis=1)
    return db.mean(axis=1), np.maximum(db.std(axis=1), 1e-3)


def train_net(
    clips: list[np.ndarray],
    labels: np.ndarray,
    recipe: CnnRecipe = CnnRecipe(),
    progress: bool = True,
    desc: str = "train",
):
    """The network trained on ``clips`` (trimmed 16 kHz utterances) with ``labels``."""
    torch = _torch()
    from tqdm.auto import tqdm

    torch.manual_seed(recipe.seed)
    rng = np.random.default_rng(recipe.seed)
    mean, std = band_stats(clips, recipe)
    net = build_net(recipe, mean, std)
    steps = recipe.epochs * int(np.ceil(len(clips) / recipe.batch))
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=recipe.lr, total_steps=steps, pct_start=0.2)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    spec_aug = specaugment_fn(rng)
    bar = tqdm(total=steps, desc=desc, unit="step", disable=not (progress and sys.stderr.isatty()), leave=False)
    for epoch in range(recipe.epochs):
        net.train()
        order = rng.permutation(len(clips))
        total = 0.0
        for a in range(0, len(order), recipe.batch):
            idx = order[a : a + recipe.batch]
            if len(idx) < 2:
                continue
            x, frames = batch_spectrograms([augment(clips[i], recipe, rng) for i in idx])
            logits = net(torch.from_numpy(x), torch.from_numpy(frames), spec_aug)
            loss = loss_fn(logits, torch.from_numpy(labels[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            total += loss.item() * len(idx)
        if not np.isfinite(total):
            raise FloatingPointError(f"{desc}: the training loss became {total} in epoch {epoch + 1}")
        if (epoch + 1) % 5 == 0:
            log.info("%s epoch %d: training loss %.4f", desc, epoch + 1, total / len(order))
    bar.close()
    net.eval()
    return net


def predict_logits(net, clips: list[np.ndarray]) -> np.ndarray:
    """(N, 8) logits, one utterance at a time (as at inference)."""
    torch = _torch()
    out = []
    with torch.no_grad():
        for c in clips:
            out.append(net(torch.from_numpy(power_spectrogram(c)[None])).numpy()[0])
    return np.array(out, dtype=np.float64)


# ---------------------------------------------------------------- evaluation


def crossvalidate(
    clips: list[np.ndarray],
    data: SpeechSet,
    n_folds: int = 6,
    recipe: CnnRecipe = CnnRecipe(),
    state: str | Path | None = None,
    progress: bool = True,
    train_on: np.ndarray | None = None,
    test_on: np.ndarray | None = None,
) -> dict:
    """Held-out logits of every fold in every :data:`CONDITIONS`; resumes from ``state`` (.npz).

    ``train_on`` / ``test_on`` (boolean, one per utterance) narrow what each fold trains on and
    tests (e.g. one sentence for training, the other for testing); rows never tested stay NaN.
    """
    y = data.labels
    train_on = np.ones(len(y), bool) if train_on is None else np.asarray(train_on, bool)
    test_on = np.ones(len(y), bool) if test_on is None else np.asarray(test_on, bool)
    logits = {c: np.full((len(y), len(SPEECH_LABELS)), np.nan) for c in CONDITIONS}
    done: list[int] = []
    if state and Path(state).is_file():
        z = np.load(state, allow_pickle=False)
        same_split = (
            "train_on" in z and np.array_equal(z["train_on"], train_on) and np.array_equal(z["test_on"], test_on)
        )
        if json.loads(str(z["recipe"])) == _recipe_json(recipe) and same_split:
            done = list(z["done"])
            for i, c in enumerate(CONDITIONS):
                logits[c] = z["logits"][i]
    for k, held in enumerate(actor_folds(data.actors, n_folds)):
        if k in done:
            continue
        t0 = time.time()
        held_out = np.isin(data.actors, held)
        train, test = ~held_out & train_on, held_out & test_on
        net = train_net(
            [clips[i] for i in np.flatnonzero(train)], y[train], recipe, progress, desc=f"fold {k + 1}/{n_folds}"
        )
        rng = np.random.default_rng(1000 + k)
        for c in CONDITIONS:
            logits[c][test] = predict_logits(net, [degrade(clips[i], c, rng) for i in np.flatnonzero(test)])
        done.append(k)
        acc = float((logits["clean"][test].argmax(1) == y[test]).mean())
        log.info(
            "fold %d (actors %s): clean accuracy %.3f, %.0f s", k + 1, " ".join(map(str, held)), acc, time.time() - t0
        )
        if state:
            Path(state).parent.mkdir(parents=True, exist_ok=True)
            np.savez(
                state,
                logits=np.stack([logits[c] for c in CONDITIONS]),
                done=np.array(done),
                recipe=np.array(json.dumps(_recipe_json(recipe))),
                train_on=train_on,
                test_on=test_on,
            )
    return logits


def _recipe_json(recipe: CnnRecipe) -> dict:
    return json.loads(json.dumps(asdict(recipe)))


def fold_report(logits: dict, data: SpeechSet, n_folds: int) -> dict:
    """Per-fold accuracy, macro-F1 and ECE (after a temperature fitted on the other folds) per condition."""
    y = data.labels
    groups = actor_folds(data.actors, n_folds)
    t_all = fit_temperature(logits["clean"], y)
    report: dict = {"temperature": t_all, "labels": list(SPEECH_LABELS), "conditions": {}}
    for c in CONDITIONS:
        folds = []
        for held in groups:
            test = np.isin(data.actors, held)
            t = fit_temperature(logits["clean"][~test], y[~test])
            p = softmax(logits[c][test], t)
            cm = confusion_matrix(y[test], p.argmax(1), len(SPEECH_LABELS))
            folds.append(
                {
                    "actors": [int(a) for a in held],
                    "n": int(test.sum()),
                    "accuracy": accuracy(cm),
                    "macro_f1": macro_f1(cm),
                    "ece": expected_calibration_error(p, y[test]),
                    "temperature": t,
                }
            )
        acc = np.array([f["accuracy"] for f in folds])
        f1 = np.array([f["macro_f1"] for f in folds])
        cm = confusion_matrix(y, logits[c].argmax(1), len(SPEECH_LABELS))
        report["conditions"][c] = {
            "acc_mean": float(acc.mean()),
            "acc_std": float(acc.std()),
            "macro_f1_mean": float(f1.mean()),
            "macro_f1_std": float(f1.std()),
            "ece_mean": float(np.mean([f["ece"] for f in folds])),
            "folds": folds,
            "confusion": cm.tolist(),
        }
    return report


def format_report(report: dict) -> str:
    import pandas as pd

    lines = []
    for c, r in report["conditions"].items():
        rows = [
            {
                "fold": i + 1,
                "held-out actors": " ".join(map(str, f["actors"])),
                "n": f["n"],
                "accuracy": f"{f['accuracy']:.3f}",
                "macro-F1": f"{f['macro_f1']:.3f}",
                "ECE": f"{f['ece']:.3f}",
            }
            for i, f in enumerate(r["folds"])
        ]
        rows.append(
            {
                "fold": "mean±std",
                "held-out actors": "",
                "n": sum(f["n"] for f in r["folds"]),
                "accuracy": f"{r['acc_mean']:.3f}±{r['acc_std']:.3f}",
                "macro-F1": f"{r['macro_f1_mean']:.3f}±{r['macro_f1_std']:.3f}",
                "ECE": f"{r['ece_mean']:.3f}",
            }
        )
        lines.append(f"\n== {c}\n" + pd.DataFrame(rows).to_string(index=False))
    cm = np.array(report["conditions"]["clean"]["confusion"])
    table = pd.DataFrame(cm, index=[f"true {label}" for label in SPEECH_LABELS], columns=list(SPEECH_LABELS))
    table["recall"] = np.round(cm.diagonal() / np.maximum(cm.sum(axis=1), 1), 3)
    lines.append("\nclean, pooled over the held-out folds (rows true, columns predicted):\n" + table.to_string())
    return "\n".join(lines)


# ---------------------------------------------------------------- export


def export_onnx(net, path: str | Path) -> None:
    """Write the network as ONNX: input ``power`` (N, 257, T) float32, output ``logits`` (N, 8)."""
    from affectlens.train.export import torch_onnx_export

    torch = _torch()
    net.eval()
    one = power_spectrogram(np.random.default_rng(0).standard_normal(SAMPLE_RATE))[None]
    dummy = torch.from_numpy(np.concatenate([one, one]))  # batch 2: a size-1 axis would be fixed
    torch_onnx_export(net, dummy, Path(path), [INPUT], [OUTPUT], dynamic_axes=(0, 2))


def model_entry(report: dict, file: str, n_folds: int) -> dict:
    clean, narrow, noisy = (report["conditions"][c] for c in CONDITIONS)
    return {
        "name": MODEL_NAME,
        "kind": "speech",
        "band": "any",
        "input": "spectrogram",
        "file": file,
        "output": OUTPUT,
        "labels": list(SPEECH_LABELS),
        "description": "8 RAVDESS voice emotions (mel-spectrogram CNN trained with noise and telephone-band "
        "augmentation; full-band and 8 kHz speech)",
        "licence": RAVDESS_WEIGHTS_LICENCE,
        "card": "MODEL_CARD.md",
        "temperature": round(report["temperature"], 4),
        "metrics": {
            "ravdess_actor_kfold_acc": round(clean["acc_mean"], 4),
            "ravdess_actor_kfold_acc_std": round(clean["acc_std"], 4),
            "ravdess_actor_kfold_macro_f1": round(clean["macro_f1_mean"], 4),
            "ravdess_actor_kfold_macro_f1_std": round(clean["macro_f1_std"], 4),
            "ravdess_actor_kfold_ece": round(clean["ece_mean"], 4),
            "ravdess_actor_kfold_acc_8khz": round(narrow["acc_mean"], 4),
            "ravdess_actor_kfold_acc_noise10db": round(noisy["acc_mean"], 4),
            "ravdess_actor_kfold_folds": n_folds,
        },
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m affectlens.train.speech_cnn", description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="the ravdess folder (Actor_01..24)")
    p.add_argument("--out", required=True, help="output folder for the ONNX file, models.json and cv.json")
    p.add_argument("--folds", type=int, default=6, help="number of actor folds (default 6 = 4 actors each)")
    p.add_argument("--epochs", type=int, default=CnnRecipe.epochs)
    p.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="folder for the trimmed clips and the fold results (resumable between runs)",
    )
    p.add_argument("--skip-final", action="store_true", help="only cross-validate; do not train the shipped model")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="affectlens: %(message)s")
    _torch().set_num_threads(2)
    recipe = CnnRecipe(epochs=args.epochs)
    data = load_ravdess(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    clips = trimmed_clips(data, args.cache)
    log.info("%d trimmed utterances after %.0f s", len(clips), time.time() - t0)
    state = Path(args.cache) / f"cnn-cv-{args.folds}.npz" if args.cache else None
    logits = crossvalidate(clips, data, args.folds, recipe, state)
    report = fold_report(logits, data, args.folds)
    report["recipe"] = _recipe_json(recipe)
    sys.stdout.write(f"\n{MODEL_NAME}, {args.folds} folds of whole actors\n" + format_report(report) + "\n")
    (out / "cv.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.skip_final:
        return 0
    net = train_net(clips, data.labels, recipe, desc="final (24 actors)")
    file = f"{MODEL_NAME}.onnx"
    export_onnx(net, out / file)
    (out / "models.json").write_text(
        json.dumps({"default": MODEL_NAME, "models": [model_entry(report, file, args.folds)]}, indent=2) + "\n"
    )
    log.info("wrote %s (%.0f kB) in %.0f s", out / file, (out / file).stat().st_size / 1e3, time.time() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
