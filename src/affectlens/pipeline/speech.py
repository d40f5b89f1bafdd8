"""Speech and audio-visual analysis: audio → utterances → voice emotion, fused with faces and text.

Staged public steps (each usable alone): :func:`~affectlens.io.audio.load_audio` (decode to
16 kHz mono) → :meth:`SpeechAnalyzer.segments` (voice activity detection) →
:meth:`SpeechAnalyzer.classify` (voice emotion per utterance) →
:func:`~affectlens.fusion.segments.fuse_segment` (per segment and face track).

Per input, :func:`affectlens.run` chains them (:mod:`affectlens.jobs.av`); the conveniences
:func:`affectlens.analyze_audio` and :func:`affectlens.analyze_av` return its segment results.
"""

from __future__ import annotations

import logging

import numpy as np

from affectlens.detect.vad import SileroVAD, SpeechSegment, VadOptions
from affectlens.io.audio import SAMPLE_RATE, Audio
from affectlens.models.speech import SpeechModel, default_speech_model_name, is_narrowband
from affectlens.types import Expression, SpeechResult, VoiceSegment

log = logging.getLogger("affectlens")

#: Samples at or above this magnitude count as clipped (a note on the records, not an error).
CLIP_LEVEL = 0.999


class SpeechAnalyzer:
    """Voice activity detection and voice emotion for 16 kHz mono audio. Stateless between calls.

    With ``model`` None, the default speech model reads all audio when it covers every band (the
    default ``ravdess-cnn`` does); when it covers the full band only and a narrow-band model is
    registered, telephone-band audio (nothing above 4 kHz, e.g. 8 kHz recordings; see
    :func:`~affectlens.models.speech.is_narrowband`) goes to that one. A named ``model`` is used
    for all audio.
    """

    def __init__(self, model: str | None = None, vad: VadOptions | None = None, threads: int = 1):
        from affectlens.registry import create

        self.model = create(model or default_speech_model_name("full"), "speech", threads)
        narrow = default_speech_model_name("narrow")
        self.narrow = (
            create(narrow, "speech", threads) if model is None and narrow != self.model.cfg.name else self.model
        )
        self.vad = SileroVAD(vad, threads=threads)

    def model_for(self, audio: Audio) -> SpeechModel:
        """The model that fits this audio's bandwidth."""
        if self.narrow is not self.model and is_narrowband(audio.samples):
            return self.narrow
        return self.model

    def segments(self, audio: Audio) -> list[SpeechSegment]:
        return self.vad.segments(audio.samples)

    def classify(
        self, audio: Audio, segments: list[SpeechSegment], model: SpeechModel | None = None
    ) -> list[VoiceSegment]:
        """The voice model's answer per utterance; an utterance holding NaN or infinite samples,
        or whose answer is not finite, gets ``voice`` None and a note saying why."""
        model = model or self.model
        clips = [
            audio.samples[int(s.start_ms * SAMPLE_RATE / 1000) : int(s.end_ms * SAMPLE_RATE / 1000)] for s in segments
        ]
        bad = [_nonfinite_note(c) for c in clips]
        good = [i for i, why in enumerate(bad) if not why]
        probs = dict(zip(good, model.predict([clips[i] for i in good])))
        out = []
        for i, s in enumerate(segments):
            p = probs.get(i)
            if p is not None and not np.isfinite(p).all():
                p, bad[i] = None, f"voice not scored: the voice model {model.cfg.name} gave a non-finite output"
            voice = None if p is None else Expression(model.labels, tuple(float(v) for v in p))
            out.append(VoiceSegment(s.start_ms, s.end_ms, s.speech_prob, voice, bad[i]))
        return out

    def analyze(self, audio: Audio) -> SpeechResult:
        model = self.model_for(audio)
        voice = self.classify(audio, self.segments(audio), model)
        return SpeechResult(
            source=audio.source,
            duration_ms=audio.duration_ms,
            segments=tuple(voice),
            model=model.cfg.name,
            source_rate=audio.source_rate,
            note="" if voice else "no speech",
        )


def _nonfinite_note(clip: np.ndarray) -> str:
    """Why an utterance's audio cannot be scored (NaN or infinite samples), or ``""``."""
    n = len(clip) - int(np.count_nonzero(np.isfinite(clip)))
    return f"voice not scored: {n} NaN or infinite audio sample(s) in the segment" if n else ""


def clipped_fraction(samples: np.ndarray, block: int = 1 << 20) -> float:
    """Fraction of samples at or above :data:`CLIP_LEVEL` in magnitude, counted block by block."""
    if not len(samples):
        return 0.0
    hits = sum(
        int(np.count_nonzero(np.abs(samples[i : i + block]) >= CLIP_LEVEL)) for i in range(0, len(samples), block)
    )
    return hits / len(samples)
