"""Voice and text of one audio or video input, fused with its face tracks per speech segment.

Called by :class:`~affectlens.jobs.run.Runner` after the video's frames (whose raw face
probabilities it collected per track): one :class:`~affectlens.types.SegmentResult` per
speech segment and face track; one segment over the whole input (status ``no speech``,
``no audio`` or ``whole input``) when there is no speech to split it.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from affectlens.fusion.config import fusion_weight
from affectlens.fusion.segments import FaceSeries, fuse_segment
from affectlens.io.audio import SAMPLE_RATE, load_audio
from affectlens.jobs.probe import MediaInfo
from affectlens.models.speech import is_narrowband
from affectlens.pipeline.speech import clipped_fraction
from affectlens.registry import get_model_cfg
from affectlens.types import SegmentResult


def fuse_media(
    runner, info: MediaInfo, mods: tuple[str, ...], faces: list[FaceSeries] | None
) -> Iterator[SegmentResult]:
    """The segment results of one input (see the module docstring)."""
    options = runner.options
    name = info.path
    notes: list[str] = []
    speech = voice_cfg = None
    if "voice" in mods:
        audio = load_audio(name)
        speech = runner.speech.analyze(audio)
        voice_cfg = get_model_cfg(speech.model, kind="speech")
        notes += _audio_notes(audio, voice_cfg)
    elif (
        info.kind in ("video", "av")
        and not info.has_audio
        and (options.modalities or ())
        and "voice" in options.modalities
    ):
        notes.append("no audio stream: face only")
    text = _text_source(runner) if "text" in mods else None
    face_cfg = get_model_cfg(options.face.model) if "face" in mods else None
    text_cfg = get_model_cfg(options.text.model, kind="text") if "text" in mods else None
    cfgs = {"face": face_cfg, "voice": voice_cfg, "text": text_cfg}
    weights = {m: fusion_weight(options.fusion, m, cfgs[m]) for m in mods}
    faces = faces if "face" in mods else []
    note = "; ".join(notes)
    if speech is not None and speech.segments:
        for seg in speech.segments:  # a segment the voice could not score (NaN samples) keeps its note
            scored = seg if seg.voice is not None else None
            yield from fuse_segment(
                name,
                seg.start_ms,
                seg.end_ms,
                "speech",
                voice=scored,
                faces=faces,
                text=text,
                weights=weights,
                options=options.fusion,
                note="; ".join(filter(None, [seg.note, note])),
            )
        return
    duration = speech.duration_ms if speech is not None else info.duration_ms
    ends = [s.times[-1] + 1.0 for s in faces or [] if len(s.times)]
    duration = max([duration] + ends)
    if speech is not None:
        status, note = "no speech", "; ".join(["no speech found by the voice activity detector"] + notes)
    else:
        status = "no audio" if not info.has_audio else "whole input"
    yield from fuse_segment(
        name,
        0.0,
        duration,
        status,
        voice=None,
        faces=faces,
        text=text,
        weights=weights,
        options=options.fusion,
        note=note,
    )


def _audio_notes(audio, voice_cfg) -> list[str]:
    notes = []
    if voice_cfg.band == "narrow" or (voice_cfg.band == "any" and is_narrowband(audio.samples)):
        notes.append(f"telephone-band audio: voice model {voice_cfg.name}")
    if audio.source_rate and audio.source_rate < SAMPLE_RATE:
        notes.append(f"audio at {audio.source_rate} Hz upsampled to {SAMPLE_RATE} Hz")
    clipped = clipped_fraction(audio.samples)
    if clipped >= 0.001:
        notes.append(f"clipped audio: {100 * clipped:.1f}% of samples at full scale")
    return notes


def _text_source(runner):
    """The transcript's segments scored by the runner's text model, as a fusion TextSource."""
    from affectlens.fusion.text import Cue, cue_source
    from affectlens.io.image import InputError
    from affectlens.io.transcript import TranscriptError, read_transcript
    from affectlens.pipeline.text import dialogue_contexts

    path = runner.options.text.transcript
    try:
        segments = read_transcript(path)
    except TranscriptError as exc:
        raise InputError(str(exc)) from None
    texts = [s.text for s in segments]
    results = runner.text_model.predict(texts, dialogue_contexts(texts, runner.options.text.context))
    cues = [Cue(float(s.start_ms), float(s.end_ms), s.text) for s in segments]
    return cue_source(cues, scored=[np.asarray(r.probs) if r.ok else None for r in results])
