"""Speech and audio-visual analysis: audio → utterances → voice emotion, fused with faces and text.

Staged public steps (each usable alone): :func:`~affectlens.io.audio.load_audio` (decode to
16 kHz mono) → :meth:`SpeechAnalyzer.segments` (voice activity detection) →
:meth:`SpeechAnalyzer.classify` (voice emotion per utterance) →
:func:`~affectlens.fusion.segments.fuse_segment` (per segment and face track).

Convenience calls: :func:`analyze_audio` (voice only) and :func:`analyze_av` (every modality
the input has: face from the video frames, voice from the audio track, text from a transcript)
return tables, one row per segment (schema in :mod:`affectlens.export.segments`); the
``*_results`` variants return the typed :class:`~affectlens.types.SegmentResult` objects.
Needs the ``[audio]`` extra (and ``[video]`` for the face of videos).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from affectlens.detect.vad import SileroVAD, SpeechSegment, VadOptions
from affectlens.fusion.config import FusionOptions
from affectlens.fusion.segments import FaceSeries, TextSource, face_series, fuse_segment
from affectlens.fusion.rule import MODALITIES
from affectlens.io.audio import SAMPLE_RATE, Audio, AudioError, load_audio, stream_kinds
from affectlens.models.speech import SpeechModel, default_speech_model_name, is_narrowband
from affectlens.registry import get_model_cfg
from affectlens.types import Expression, SegmentResult, SpeechResult, VoiceSegment

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
        self.model = SpeechModel(model or default_speech_model_name("full"), threads=threads)
        narrow = default_speech_model_name("narrow")
        self.narrow = (SpeechModel(narrow, threads=threads) if model is None and narrow != self.model.cfg.name
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
        """The voice model's answer per utterance; an utterance holding NaN or infinite samples,
        or whose answer is not finite, gets ``voice`` None and a note saying why."""
        model = model or self.model
        clips = [audio.samples[int(s.start_ms * SAMPLE_RATE / 1000): int(s.end_ms * SAMPLE_RATE / 1000)]
                 for s in segments]
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
        return SpeechResult(source=audio.source, duration_ms=audio.duration_ms, segments=tuple(voice),
                            model=model.cfg.name, source_rate=audio.source_rate,
                            note="" if voice else "no speech")


def _nonfinite_note(clip: np.ndarray) -> str:
    """Why an utterance's audio cannot be scored (NaN or infinite samples), or ``""``."""
    n = len(clip) - int(np.count_nonzero(np.isfinite(clip)))
    return f"voice not scored: {n} NaN or infinite audio sample(s) in the segment" if n else ""


def clipped_fraction(samples: np.ndarray, block: int = 1 << 20) -> float:
    """Fraction of samples at or above :data:`CLIP_LEVEL` in magnitude, counted block by block."""
    if not len(samples):
        return 0.0
    hits = sum(int(np.count_nonzero(np.abs(samples[i: i + block]) >= CLIP_LEVEL))
               for i in range(0, len(samples), block))
    return hits / len(samples)


_CACHE: dict = {}


def _speech_analyzer(model: str | None, vad: VadOptions | None) -> SpeechAnalyzer:
    key = (model, vad)
    if key not in _CACHE:
        _CACHE.clear()
        _CACHE[key] = SpeechAnalyzer(model, vad)
    return _CACHE[key]


def parse_modalities(value: str | tuple | list | None) -> tuple[str, ...] | None:
    """``"face,voice"`` → ``("face", "voice")``; None means every modality the input has."""
    if value is None:
        return None
    items = [v.strip() for v in (value.split(",") if isinstance(value, str) else value) if v.strip()]
    bad = [v for v in items if v not in MODALITIES]
    if bad or not items:
        raise ValueError(f"unknown modality {', '.join(bad) or '(none)'}; valid: {', '.join(MODALITIES)}")
    return tuple(dict.fromkeys(items))


@dataclass(frozen=True)
class AVOptions:
    """What to run: ``modalities`` (None = every one the input has), the speech ``model``,
    ``vad`` options, ``fusion`` options and the video options for the face (``video``:
    a :class:`~affectlens.pipeline.video.VideoOptions` keyword dict)."""

    modalities: tuple[str, ...] | None = None
    model: str | None = None
    vad: VadOptions = VadOptions()
    fusion: FusionOptions = FusionOptions()

    def __post_init__(self) -> None:
        object.__setattr__(self, "modalities", parse_modalities(self.modalities))


def analyze_audio_results(path, options: AVOptions | None = None) -> list[SegmentResult]:
    """Voice only: one :class:`SegmentResult` per utterance (one ``no speech`` result if none)."""
    options = options or AVOptions(modalities=("voice",))
    return analyze_av_results(path, options=AVOptions(("voice",), options.model, options.vad, options.fusion))


def _weights(want: set[str], fusion: FusionOptions, speech_cfg=None, face_cfg=None, text_cfg=None) -> dict:
    cfgs = {"voice": speech_cfg, "face": face_cfg, "text": text_cfg}
    return {m: fusion.weight(m, cfgs[m]) for m in want}


def analyze_av_results(path, transcript: TextSource | str | None = None, options: AVOptions | None = None,
                       faces: list[FaceSeries] | None = None, **video_kwargs) -> list[SegmentResult]:
    """Every modality of one file, fused per speech segment and face track.

    ``transcript``: a :data:`~affectlens.fusion.segments.TextSource` callable, or a transcript
    file (needs the text model, :mod:`affectlens.models.text`). ``faces``: the face tracks of this
    file when already computed (:func:`~affectlens.fusion.segments.face_series`); else the video
    is analysed here with ``video_kwargs`` (:class:`~affectlens.pipeline.video.VideoOptions` /
    :class:`~affectlens.pipeline.options.AnalyzeOptions` fields, e.g. ``fps=10``).
    Errors (:class:`~affectlens.io.image.InputError`) name the file and the reason.
    """
    options = options or AVOptions()
    name = str(path)
    has_video, has_audio = stream_kinds(name)
    if not has_video and not has_audio:
        load_audio(name)  # raises the one-line reason (missing, empty, not a media file)
    want = set(options.modalities or MODALITIES)
    if options.modalities is None:  # every modality the input has
        want = {m for m in want if (m != "face" or has_video) and (m != "voice" or has_audio)
                and (m != "text" or transcript is not None)}
    if "text" in want and transcript is None:
        raise ValueError(f"{name}: the text modality needs a transcript (--transcript FILE)")
    if "face" in want and not has_video:
        raise AudioError(f"{name}: no video stream, so no face modality (use --modalities voice)")
    text = _text_source(transcript) if "text" in want else None
    speech = voice = None
    notes = []
    if "voice" in want and has_audio:
        analyzer = _speech_analyzer(options.model, options.vad)
        audio = load_audio(name)
        speech = analyzer.analyze(audio)
        voice = get_model_cfg(speech.model, kind="speech")
        if voice.band == "narrow" or (voice.band == "any" and is_narrowband(audio.samples)):
            notes.append(f"telephone-band audio: voice model {voice.name}")
        if audio.source_rate and audio.source_rate < SAMPLE_RATE:
            notes.append(f"audio at {audio.source_rate} Hz upsampled to {SAMPLE_RATE} Hz")
        clipped = clipped_fraction(audio.samples)
        if clipped >= 0.001:
            notes.append(f"clipped audio: {100 * clipped:.1f}% of samples at full scale")
    elif "voice" in want:
        notes.append("no audio stream: face only")
        want.discard("voice")
    face_cfg = None
    duration = speech.duration_ms if speech else 0.0
    if "face" in want:
        face_cfg = get_model_cfg(video_kwargs.get("model"))
        if faces is None:
            from affectlens.pipeline.video import analyze_video_iter

            faces = face_series(analyze_video_iter(name, **video_kwargs))
        ends = [s.times[-1] + 1.0 for s in faces if len(s.times)]
        duration = max([duration] + ends)
    faces = faces if "face" in want else []
    weights = _weights(want, options.fusion, voice, face_cfg, _text_cfg() if "text" in want else None)
    note = "; ".join(notes)
    out: list[SegmentResult] = []
    if speech is not None and speech.segments:
        for seg in speech.segments:
            scored = seg if seg.voice is not None else None
            out += fuse_segment(name, seg.start_ms, seg.end_ms, "speech", voice=scored, faces=faces, text=text,
                                weights=weights, options=options.fusion, note="; ".join(filter(None, [seg.note, note])))
        return out
    status = "no speech" if speech is not None else ("no audio" if not has_audio else "whole input")
    if speech is not None:
        note = "; ".join(["no speech found by the voice activity detector"] + notes)
    return fuse_segment(name, 0.0, duration, status, voice=None, faces=faces, text=text, weights=weights,
                        options=options.fusion, note=note)


def _text_source(transcript) -> TextSource:
    """Extension point for the text modality: a callable is used as is; a transcript file goes
    through :func:`affectlens.fusion.text.transcript_source` (needs the text emotion model)."""
    if callable(transcript):
        return transcript
    from affectlens.fusion.text import transcript_source

    return transcript_source(transcript)


def _text_cfg():
    from affectlens.registry import list_models

    cfgs = list_models("text")
    return cfgs[0] if cfgs else None


def analyze_audio(path, options: AVOptions | None = None):
    """Voice only, as a pandas DataFrame: one row per utterance (schema: :mod:`affectlens.export.segments`)."""
    from affectlens.export.segments import segment_records, segments_to_frame

    return segments_to_frame(segment_records(analyze_audio_results(path, options)))


def analyze_av(path, transcript: TextSource | str | None = None, options: AVOptions | None = None, **video_kwargs):
    """Face, voice (and text) fused per segment and face track, as a pandas DataFrame."""
    from affectlens.export.segments import segment_records, segments_to_frame

    return segments_to_frame(segment_records(analyze_av_results(path, transcript, options, **video_kwargs)))
