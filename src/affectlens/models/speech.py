"""Speech emotion: 16 kHz utterances → an ONNX classifier (onnxruntime) → 8 voice labels.

Two kinds of speech model, told apart by their configuration's ``input``:

- ``spectrogram`` (the default model, ``ravdess-cnn``): :func:`power_spectrogram` of the
  loudness-normalised utterance (numpy only) goes into the ONNX network, which holds the rest
  of its front end (mel bands, decibels, standardisation) and returns logits.
- ``features`` (``ravdess-svm``, ``ravdess-svm-narrow``): :func:`acoustic_features` — the
  mean and standard deviation over 10 ms frames of 64 log-mel bands, 30 MFCCs with their first
  and second deltas, spectral contrast (7 bands), centroid, bandwidth, roll-off, flatness,
  zero-crossing rate and RMS energy, plus pitch (YIN) and energy-contour statistics — go into
  the ONNX classifier, which returns probabilities. These features need librosa
  (``[audio-features]`` extra).

Staged public steps, each usable alone: the front end above, :meth:`SpeechModel.predict` (the
probabilities over the model's own labels) and :func:`to_canonical` (those probabilities on the
8 canonical labels, see :data:`RAVDESS_TO_CANONICAL`; ``calm`` folds into ``neutral``;
``contempt`` is outside the voice model's label set and stays 0).
"""

from __future__ import annotations

import numpy as np

from affectlens.io.audio import SAMPLE_RATE
from affectlens.labels import CANONICAL
from affectlens.models.expression import softmax
from affectlens.models.runtime import onnx_session
from affectlens.registry import ModelCfg, default_model_name, get_model_cfg, list_models

#: The voice model's output labels (RAVDESS's 8 emotions with canonical names where one exists).
SPEECH_LABELS = ("neutral", "calm", "happiness", "sadness", "anger", "fear", "disgust", "surprise")

#: RAVDESS emotion code (third field of the file name) → (RAVDESS name, voice-model label).
RAVDESS_CODES = {
    "01": ("neutral", "neutral"),
    "02": ("calm", "calm"),
    "03": ("happy", "happiness"),
    "04": ("sad", "sadness"),
    "05": ("angry", "anger"),
    "06": ("fearful", "fear"),
    "07": ("disgust", "disgust"),
    "08": ("surprised", "surprise"),
}

#: Voice-model label → canonical label. ``calm`` has no canonical equivalent: it is a low-arousal
#: neutral state, so in the canonical (fused) space its probability is added to ``neutral``.
#: The voice model keeps ``calm`` as its own output (``voice_calm`` in tables). The canonical
#: ``contempt`` has no RAVDESS counterpart: the voice model never votes for or against it.
RAVDESS_TO_CANONICAL = {
    "neutral": "neutral",
    "calm": "neutral",
    "happiness": "happiness",
    "sadness": "sadness",
    "anger": "anger",
    "fear": "fear",
    "disgust": "disgust",
    "surprise": "surprise",
}

BANDS = ("full", "narrow")
N_MELS = 64
N_MFCC = 30
HOP = 160  # 10 ms
N_FFT = 512  # 32 ms
#: Shortest utterance the features are computed on; shorter ones are zero-padded to it.
MIN_SAMPLES = SAMPLE_RATE // 4


def _librosa():
    try:
        import librosa
    except ImportError:
        raise ImportError(
            "the acoustic features of the SVM speech models need librosa: pip install 'affectlens[audio-features]'"
        ) from None
    return librosa


def _stats(x: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of each row of a (features, frames) matrix."""
    return np.concatenate([x.mean(axis=1), x.std(axis=1)])


def narrowband(samples: np.ndarray) -> np.ndarray:
    """The audio as a telephone line carries it: down to 8 kHz and back up (nothing above 4 kHz)."""
    from scipy.signal import resample_poly

    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    return resample_poly(resample_poly(y, 1, 2), 2, 1)[: len(y)].astype(np.float32)


def acoustic_features(samples: np.ndarray, sample_rate: int = SAMPLE_RATE, band: str = "full") -> np.ndarray:
    """One float32 feature vector (length :data:`N_FEATURES`) for an utterance of 16 kHz mono audio.

    ``band="narrow"`` first removes everything above 4 kHz (:func:`narrowband`), so that
    telephone-band audio and full-band audio give the same kind of features.
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(
            f"acoustic_features needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz (use io.audio.load_audio)"
        )
    if band not in BANDS:
        raise ValueError(f"unknown band {band!r}; valid: {', '.join(BANDS)}")
    librosa = _librosa()
    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    if band == "narrow":
        y = narrowband(y)
    if len(y) < MIN_SAMPLES:
        y = np.pad(y, (0, MIN_SAMPLES - len(y)))
    y = loudness_normalise(y)
    spec = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP)) ** 2
    mel = librosa.feature.melspectrogram(S=spec, sr=SAMPLE_RATE, n_mels=N_MELS, fmax=SAMPLE_RATE / 2)
    logmel = librosa.power_to_db(mel, ref=1.0, top_db=80.0)
    mfcc = librosa.feature.mfcc(S=logmel, n_mfcc=N_MFCC)
    d1 = librosa.feature.delta(mfcc, width=9)
    d2 = librosa.feature.delta(mfcc, order=2, width=9)
    mag = np.sqrt(spec)
    contrast = librosa.feature.spectral_contrast(S=mag, sr=SAMPLE_RATE, n_bands=6)
    centroid = librosa.feature.spectral_centroid(S=mag, sr=SAMPLE_RATE) / 1000.0
    bandwidth = librosa.feature.spectral_bandwidth(S=mag, sr=SAMPLE_RATE) / 1000.0
    rolloff = librosa.feature.spectral_rolloff(S=mag, sr=SAMPLE_RATE) / 1000.0
    flatness = librosa.feature.spectral_flatness(S=mag)
    zcr = librosa.feature.zero_crossing_rate(y, frame_length=N_FFT, hop_length=HOP)
    rms = librosa.feature.rms(S=mag, frame_length=N_FFT, hop_length=HOP)
    frames = np.vstack([logmel, mfcc, d1, d2, contrast, centroid, bandwidth, rolloff, flatness, zcr])
    n = min(frames.shape[1], rms.shape[1])
    energy = 20 * np.log10(rms[0, :n] + 1e-6)
    f0 = librosa.yin(y, fmin=65.0, fmax=500.0, sr=SAMPLE_RATE, frame_length=1024, hop_length=HOP)
    m = min(len(f0), n)
    voiced = energy[:m] > energy.max() - 30.0  # frames within 30 dB of the loudest
    logf0 = np.log2(f0[:m][voiced]) if voiced.sum() >= 3 else np.zeros(3)
    pitch = np.array(
        [
            np.median(logf0),
            logf0.std(),
            np.percentile(logf0, 90) - np.percentile(logf0, 10),
            np.mean(np.abs(np.diff(logf0))),
            voiced.mean(),
        ]
    )
    loud = (
        np.array(
            [
                energy.max(),
                energy.std(),
                np.percentile(energy, 90) - np.percentile(energy, 10),
                np.mean(np.abs(np.diff(energy))),
            ]
        )
        / 10.0
    )
    out = np.concatenate([_stats(frames[:, :n]), pitch, loud]).astype(np.float32)
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0)


N_FEATURES = 2 * (N_MELS + 3 * N_MFCC + 7 + 5) + 5 + 4

#: Rows of :func:`power_spectrogram` (0-8 kHz in 31.25 Hz steps).
N_BINS = N_FFT // 2 + 1
#: RMS every utterance is scaled to before analysis (-26 dBFS).
TARGET_RMS = 0.05


def loudness_normalise(samples: np.ndarray) -> np.ndarray:
    """The utterance scaled to an RMS of :data:`TARGET_RMS` (digital silence is left as it is)."""
    y = np.asarray(samples, dtype=np.float32).reshape(-1)
    rms = float(np.sqrt(np.mean(y.astype(np.float64) ** 2))) if len(y) else 0.0
    return y * np.float32(TARGET_RMS / rms) if rms > 1e-5 else y


def power_spectrogram(samples: np.ndarray) -> np.ndarray:
    """(N_BINS, frames) float32 power spectrum of a loudness-normalised 16 kHz utterance.

    32 ms periodic-Hann windows every 10 ms, centred (the signal is zero-padded by half a window
    on each side), the same framing as ``torch.stft(center=True, pad_mode="constant")``, so the
    spectrogram-input speech models see at inference what they saw in training. Utterances
    shorter than :data:`MIN_SAMPLES` are zero-padded to it. Needs numpy only.
    """
    y = loudness_normalise(samples)
    if len(y) < MIN_SAMPLES:
        y = np.pad(y, (0, MIN_SAMPLES - len(y)))
    y = np.pad(y, (N_FFT // 2, N_FFT // 2))
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)
    frames = np.lib.stride_tricks.sliding_window_view(y, N_FFT)[::HOP] * window
    return (np.abs(np.fft.rfft(frames, axis=1)) ** 2).T.astype(np.float32)


def to_canonical(probs: np.ndarray, labels: tuple[str, ...]) -> np.ndarray:
    """(N, len(labels)) voice probabilities → (N, 8) over :data:`~affectlens.labels.CANONICAL`."""
    p = np.asarray(probs, dtype=np.float64).reshape(-1, len(labels))
    out = np.zeros((len(p), len(CANONICAL)))
    for j, name in enumerate(labels):
        out[:, CANONICAL.index(RAVDESS_TO_CANONICAL[name])] += p[:, j]
    return out


def default_speech_model_name(band: str = "full") -> str:
    """The speech model for audio of ``band``: the default speech model when it covers that band
    (its band is ``band`` or ``any``), else the first registered one that does, else the default."""
    cfgs = list_models("speech")
    if not cfgs:
        raise LookupError("no speech model is registered (affectlens/weights/*/models.json has none of kind 'speech')")
    try:
        default = default_model_name("speech")
    except LookupError:
        default = cfgs[0].name
    cfgs.sort(key=lambda c: c.name != default)
    return next((c.name for c in cfgs if c.band in (band, "any")), default)


#: Fraction of the energy above 4 kHz below which audio counts as telephone-band.
NARROWBAND_RATIO = 1e-3


#: Samples per block of the narrow-band check (2**18 = 16.4 s at 16 kHz): memory stays bounded
#: (about 10 MB) however long the audio is; audio up to one block is one FFT, as before.
NARROWBAND_BLOCK = 1 << 18


def is_narrowband(samples: np.ndarray) -> bool:
    """True when (almost) nothing is above 4 kHz: 8 kHz audio resampled to 16 kHz, or a phone line.

    The energy above 4 kHz and the total are summed over Hann-windowed blocks of
    :data:`NARROWBAND_BLOCK` samples (NaN or infinite samples count as silence)."""
    y = np.asarray(samples).reshape(-1)
    if len(y) < 1024:
        return False
    high = total = 0.0
    for start in range(0, len(y), NARROWBAND_BLOCK):
        block = y[start : start + NARROWBAND_BLOCK]
        if len(block) < 1024 and start:
            break  # a short tail says nothing about the band
        block = np.nan_to_num(block.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
        power = np.abs(np.fft.rfft(block * np.hanning(len(block)))) ** 2
        high += float(power[len(power) // 2 :].sum())
        total += float(power.sum())
    return bool(total > 0 and high / total < NARROWBAND_RATIO)


class SpeechModel:
    """An ONNX speech-emotion classifier: over :func:`acoustic_features` vectors (``input``
    ``features``, ONNX output = probabilities) or over :func:`power_spectrogram` (``input``
    ``spectrogram``, ONNX output = logits)."""

    def __init__(self, cfg: ModelCfg | str | None = None, threads: int = 1):
        cfg = get_model_cfg(cfg or default_speech_model_name(), kind="speech") if not isinstance(cfg, ModelCfg) else cfg
        if cfg.kind != "speech":
            raise ValueError(f"model {cfg.name!r} is of kind {cfg.kind!r}, not 'speech'")
        self.cfg = cfg
        self.labels = cfg.labels
        self.session = onnx_session(cfg.path, threads)
        self.input = self.session.get_inputs()[0].name

    def predict_features(self, features: np.ndarray) -> np.ndarray:
        """(N, N_FEATURES) float32 features → (N, len(labels)) probabilities (``features`` models)."""
        if self.cfg.input != "features":
            raise ValueError(f"speech model {self.cfg.name!r} reads spectrograms, not feature vectors (use predict)")
        x = np.asarray(features, dtype=np.float32)
        if x.ndim != 2 or x.shape[1] != N_FEATURES:
            raise ValueError(
                f"speech model {self.cfg.name!r} expects features of shape (N, {N_FEATURES}), got {x.shape}"
            )
        if len(x) == 0:
            return np.zeros((0, len(self.labels)))
        (p,) = self.session.run([self.cfg.output], {self.input: x})
        p = np.asarray(p, dtype=np.float64)
        if self.cfg.temperature != 1.0:
            return softmax(np.log(np.clip(p, 1e-12, 1.0)), self.cfg.temperature)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, utterances: list[np.ndarray]) -> np.ndarray:
        """Probabilities (N, len(labels)) for N utterances of 16 kHz mono float32 audio."""
        if not utterances:
            return np.zeros((0, len(self.labels)))
        if self.cfg.input == "spectrogram":
            return np.concatenate([self.predict_spectrogram(power_spectrogram(u)) for u in utterances])
        return self.predict_features(np.stack([acoustic_features(u, band=self.cfg.band) for u in utterances]))

    def predict_spectrogram(self, power: np.ndarray) -> np.ndarray:
        """One utterance's (N_BINS, frames) power spectrogram → (1, len(labels)) probabilities."""
        if self.cfg.input != "spectrogram":
            raise ValueError(f"speech model {self.cfg.name!r} reads feature vectors, not spectrograms (use predict)")
        x = np.asarray(power, dtype=np.float32)
        if x.ndim != 2 or x.shape[0] != N_BINS:
            raise ValueError(f"speech model {self.cfg.name!r} expects a ({N_BINS}, frames) spectrogram, got {x.shape}")
        (z,) = self.session.run([self.cfg.output], {self.input: x[None]})
        return softmax(z, self.cfg.temperature)
