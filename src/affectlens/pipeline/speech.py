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


from affectlens.detect.vad import SileroVAD, SpeechSegment, VadOptions
from affectlens.io.audio import SAMPLE_RATE, Audio
from affectlens.models.speech import SpeechModel, default_speech_model_name, is_narrowband
from affectlens.types import Expression, SpeechResult, VoiceSegment

log = logging.getLogger("affectlens")

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
        self.narrow = (create(narrow, "speech", threads) if model is None and narrow != self.model.cfg.name
                       else self.model)
        self.vad = SileroVAD(vad, threads=threads)

    def model_for(self, audio: Audio) -> SpeechModel:
        """The model that fits this audio's bandwidth."""
        if self.narrow is not self.model and is_narrowband(audio.samples):
            return self.narrow
        return self.model

    def segments(self, audio: Audio) -> list[SpeechSegment]:
        return self.vad.segments(audio.samples)

    def classify(self, audio: Audio, segments: list[SpeechSegment], model: SpeechModel | None = None
                 ) -> list[VoiceSegment]:
        model = model or self.model
        clips = [audio.samples[int(s.start_ms * SAMPLE_RATE / 1000): int(s.end_ms * SAMPLE_RATE / 1000)]
                 for s in segments]
        probs = model.predict(clips)
        return [VoiceSegment(s.start_ms, s.end_ms, s.speech_prob,
                             Expression(model.labels, tuple(float(v) for v in p)))
                for s, p in zip(segments, probs)]

    def analyze(self, audio: Audio) -> SpeechResult:
        model = self.model_for(audio)
        voice = self.classify(audio, self.segments(audio), model)
        return SpeechResult(source=audio.source, duration_ms=audio.duration_ms, segments=tuple(voice),
                            model=model.cfg.name, source_rate=audio.source_rate,
                            note="" if voice else "no speech")
