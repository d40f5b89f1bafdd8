"""Speech and fused parts of ``affectlens analyze``: thin wrappers over :mod:`affectlens.pipeline.speech`.

Routing (by content): audio files go to the voice path; videos give one record per speech
segment and face track with face + voice (+ text with ``--transcript``) when the video has an
audio track or ``--modalities`` asks for voice or text; otherwise (``--modalities face``, or a
video without audio) the per-frame face records as before.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("affectlens")


def add_speech_options(a) -> None:
    g = a.add_argument_group("speech and fusion")
    g.add_argument("--modalities", default=None, metavar="LIST",
                   help="comma-separated subset of face,voice,text (default: every modality the input has: "
                        "face for images, voice for audio, face+voice for videos with sound, +text with --transcript)")
    g.add_argument("--transcript", metavar="FILE", default=None,
                   help="transcript of the audio (.srt, .vtt or .json) for the text modality")
    g.add_argument("--speech-model", default=None, help="speech emotion model name (see 'affectlens models')")
    g.add_argument("--vad-threshold", type=float, default=0.5, metavar="P",
                   help="speech probability that starts an utterance (default 0.5)")
    g.add_argument("--min-speech", type=float, default=250.0, metavar="MS",
                   help="drop utterances shorter than MS milliseconds (default 250)")
    g.add_argument("--min-silence", type=float, default=300.0, metavar="MS",
                   help="a pause must last MS milliseconds to split utterances (default 300)")


def stream_kinds(path: str) -> tuple[bool, bool]:
    """``(has_video, has_audio)`` of a media file (both False when FFmpeg cannot open it)."""
    from affectlens.io.audio import stream_kinds as kinds

    return kinds(path)


def split_audio(args_paths, images: list[str]) -> tuple[list[str], list[str]]:
    """``(images, audio files)``: files routed to images by find_inputs that are audio by content,
    plus the audio files inside the given folders."""
    from affectlens.io.audio import AUDIO_SUFFIXES, is_audio_path

    audio = [p for p in images if is_audio_path(p)]
    rest = [p for p in images if p not in set(audio)]
    for raw in args_paths:
        if Path(raw).is_dir():
            audio += [str(f) for f in sorted(Path(raw).rglob("*")) if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES]
    return rest, audio


def av_options(args):
    from affectlens.detect.vad import VadOptions
    from affectlens.pipeline.speech import AVOptions

    return AVOptions(modalities=args.modalities, model=args.speech_model,
                     vad=VadOptions(threshold=args.vad_threshold, min_speech_ms=args.min_speech,
                                    min_silence_ms=args.min_silence))


def wants_segments(args, has_audio: bool) -> bool:
    """Does this video give segment records (voice/text asked for, or by default sound present)?"""
    from affectlens.pipeline.speech import parse_modalities

    mods = parse_modalities(args.modalities)
    if mods is None:
        return has_audio or bool(args.transcript)
    return "voice" in mods or "text" in mods


def _collect(path: str, results, args, records: list[dict]) -> None:
    """Add the segment records of ``results`` to ``records``, print them with ``--json`` and log
    the input's note (clipped, upsampled, no audio …) once."""
    from affectlens.export.segments import segment_records

    recs = segment_records(results)
    records += recs
    if args.json:
        sys.stdout.write("".join(json.dumps(r) + "\n" for r in recs))
        sys.stdout.flush()
    note = next((r.note for r in results if r.note), "")
    if note:
        log.info("%s: %s", path, note)


def run_audio(path: str, args, records: list[dict]) -> bool:
    """Voice (and text) of one audio file into ``records``; False (one logged line) if unreadable."""
    from affectlens.io.image import InputError
    from affectlens.pipeline.speech import analyze_av_results

    opts = av_options(args)
    if opts.modalities and "face" in opts.modalities:
        log.error("error: %s: an audio file has no face modality (use --modalities voice)", path)
        return False
    try:
        results = analyze_av_results(path, args.transcript, opts)
    except InputError as exc:
        log.error("error: %s", exc)
        return False
    _collect(path, results, args, records)
    return True


def run_av_video(path: str, args, analyze_options, records: list[dict], summaries: list, many: bool) -> bool:
    """Face tracks of a video (with its usual summary/timeline/annotation outputs), fused with
    voice and text per speech segment into ``records``."""
    from affectlens.cli_video import run_video
    from affectlens.fusion.segments import face_series_from_records
    from affectlens.io.image import InputError
    from affectlens.pipeline.speech import analyze_av_results

    opts = av_options(args)
    frame_recs: list[dict] = []
    ok = True
    faces = None
    if opts.modalities is None or "face" in opts.modalities:
        ok = run_video(path, args, analyze_options, frame_recs, summaries, many=many, stream_lines=False)
        if not frame_recs and not ok:
            return False
        faces = face_series_from_records(frame_recs)
    try:
        results = analyze_av_results(path, args.transcript, opts, faces=faces, model=analyze_options.model)
    except InputError as exc:
        log.error("error: %s", exc)
        return False
    _collect(path, results, args, records)
    return ok


def print_segments(records: list[dict]) -> None:
    import pandas as pd

    rows = []
    for r in records:
        voice = r["voice"] or {}
        face = r["face"] or {}
        top = lambda d: f"{max(d, key=d.get)} {max(d.values()):.2f}" if d else "-"  # noqa: E731
        rows.append({"source": Path(r["source"]).name, "from (s)": f"{r['start_ms'] / 1000:.2f}",
                     "to (s)": f"{r['end_ms'] / 1000:.2f}", "track": "-" if r["track"] is None else r["track"],
                     "status": r["status"], "voice": top(voice), "face": top(face), "text": top(r["text"] or {}),
                     "fused": f"{r['fused_top']} {r['fused'][r['fused_top']]:.2f}" if r["fused_top"] else "-",
                     "modalities": "+".join(r["modalities"]) or "-"})
    if rows:
        sys.stdout.write(pd.DataFrame(rows).to_string(index=False) + "\n")
