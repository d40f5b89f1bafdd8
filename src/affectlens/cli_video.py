"""Video parts of ``affectlens analyze`` and the ``affectlens live`` command: thin wrappers."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("affectlens")


def add_video_options(a) -> None:
    a.add_argument("--landmarks", choices=("auto", "on", "off"), default="auto",
                   help="face mesh -> head pose, action units, rationale (default auto: on; off skips it)")
    g = a.add_argument_group("video")
    g.add_argument("--fps", type=float, default=None, metavar="F", help="analyse at most F frames per second")
    g.add_argument("--every", type=int, default=1, metavar="N", help="analyse every N-th frame (default 1)")
    g.add_argument("--start", type=float, default=0.0, metavar="S", help="start at S seconds")
    g.add_argument("--end", type=float, default=None, metavar="S", help="stop at S seconds")
    g.add_argument("--smooth", choices=("none", "ema", "oneeuro"), default="ema",
                   help="temporal smoothing of each track's probabilities (default ema)")
    g.add_argument("--max-age", type=float, default=1000.0, metavar="MS",
                   help="a track survives MS milliseconds without its face (default 1000)")
    g.add_argument("--detect-size", type=int, default=None, metavar="PX",
                   help="longest side of the frame the face detector sees (default: half the frame's, 320 to 640; "
                        "larger finds smaller faces, slower)")
    g.add_argument("--workers", type=int, default=None, metavar="N",
                   help="threads that analyse frames in parallel (default: one per core, at most 4)")
    g.add_argument("--summary", metavar="FILE", help="write one row per track to FILE (.csv or .json)")
    g.add_argument("--au-baseline", action="store_true",
                   help="measure action units against each track's own neutral face instead of the population's")
    g.add_argument("--timeline", metavar="FILE", help="plot each track's probabilities over time (.png or .html)")


def video_options(args, live: bool = False):
    from affectlens.pipeline.video import VideoOptions

    return VideoOptions(fps=args.fps, every=args.every, start=args.start, end=args.end, smooth=args.smooth,
                        max_age_ms=args.max_age, live=live, detect_size=args.detect_size, workers=args.workers,
                        au_baseline=args.au_baseline)


def detect_size(args) -> int:
    from affectlens.pipeline.video import VIDEO_DETECT_MAX_SIDE

    return args.detect_size or VIDEO_DETECT_MAX_SIDE


def check_outputs(args) -> None:
    """Fail early (ValueError) on output names with an unsupported suffix."""
    from affectlens.export.video import SUMMARY_SUFFIXES
    from affectlens.viz.timeline import TIMELINE_SUFFIXES

    for flag, value, valid in (("--summary", args.summary, SUMMARY_SUFFIXES),
                               ("--timeline", args.timeline, TIMELINE_SUFFIXES)):
        if value and Path(value).suffix.lower() not in valid:
            raise ValueError(f"{flag} {value}: unsupported format {Path(value).suffix or '(none)'!r}; "
                             f"valid: {', '.join(valid)}")


def _per_video(path: str | None, source: str, many: bool) -> Path | None:
    """An output file for one video: ``path`` itself, or ``<stem>-<video stem><suffix>`` for many."""
    if not path:
        return None
    p = Path(path)
    return p.with_name(f"{p.stem}-{Path(source).stem}{p.suffix}") if many else p


def annotate_target(annotate: str | None, source: str, many: bool) -> Path | None:
    from affectlens.viz.video import VIDEO_OUT_SUFFIXES

    if not annotate:
        return None
    p = Path(annotate)
    if p.suffix.lower() in VIDEO_OUT_SUFFIXES:
        return _per_video(annotate, source, many)
    return p / f"{Path(source).stem}.mp4"  # a folder


def _progress(total, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="frame", disable=not sys.stderr.isatty(), leave=False, smoothing=0.1)


def _text_line(result) -> str:
    faces = "  ".join(f"#{f.track} {f.expression.top} {f.expression.top_prob:.2f}" for f in result.faces)
    return f"{result.time_ms / 1000:8.2f} s  {faces or '(no face)'}\n"


def run_video(source, args, analyze_options, records: list[dict], summaries: list, *, many: bool = False,
              live: bool = False, stream_lines: bool = False) -> bool:
    """Analyse one video into ``records``/``summaries``; False if it could not be opened or
    stopped early (truncated or corrupt; the reason is logged as one line).

    Writes the annotated video and timeline on the way out, also after Ctrl-C (which is
    re-raised so the caller writes the tables and stops).
    """
    from affectlens.export.table import records_to_frame
    from affectlens.export.video import TrackSummarizer, frame_records
    from affectlens.io.video import VideoError
    from affectlens.pipeline.video import VideoRun

    try:
        run = VideoRun(source, video_options(args, live), analyze_options)
    except VideoError as exc:
        log.error("error: %s", exc)
        return False
    writer = None
    target = annotate_target(getattr(args, "annotate", None), run.source, many)
    if target:
        from affectlens.viz.video import AnnotatedVideoWriter

        writer = AnnotatedVideoWriter(target, audio_from=run.source if (run.has_audio and run.reader.kind == "file")
                                      else None, offset_ms=run.options.start * 1000.0)
    acc = TrackSummarizer()
    first = len(records)
    bar = _progress(run.expected_frames, Path(run.source).name)
    max_frames = getattr(args, "max_frames", None)
    try:
        for n, (vf, result) in enumerate(run.pairs(), start=1):
            recs = frame_records(result)
            records += recs
            acc.add(result)
            if writer:
                writer.write(vf.rgb, result)
            if stream_lines:
                if args.json:
                    sys.stdout.write("".join(json.dumps(r) + "\n" for r in recs))
                else:
                    sys.stdout.write(_text_line(result))
                sys.stdout.flush()
            bar.update()
            if max_frames and n >= max_frames:
                break
    finally:
        bar.close()
        run.close()
        if writer:
            writer.close()
        summaries += acc.summaries()
        timeline = _per_video(args.timeline, run.source, many)
        if timeline:
            from affectlens.viz.timeline import plot_timeline

            plot_timeline(records_to_frame(records[first:]), timeline, title=Path(run.source).name)
    return run.stopped is None


def print_summary(summaries) -> None:
    import pandas as pd

    rows = [{"source": s.source, "track": s.track, "from (s)": f"{s.first_ms / 1000:.2f}",
             "to (s)": f"{s.last_ms / 1000:.2f}", "frames": s.frames, "dominant": s.dominant,
             "p": f"{dict(s.mean_probs)[s.dominant]:.2f}", "segments": len(s.segments)} for s in summaries]
    if rows:
        sys.stdout.write(pd.DataFrame(rows).to_string(index=False) + "\n")


def write_video_outputs(args, summaries) -> None:
    if args.summary:
        from affectlens.export.video import write_summary

        write_summary(summaries, args.summary)


# -- live --------------------------------------------------------------------------------------
def cmd_live(args) -> int:
    from affectlens.export import write_table
    from affectlens.pipeline.video import split_options

    check_outputs(args)
    _, analyze_options = split_options(None, None, {"model": args.model, "min_face": args.min_face,
                                                    "score_threshold": args.threshold, "landmarks": args.landmarks,
                                                    "detect_max_side": detect_size(args)})
    records: list[dict] = []
    summaries: list = []
    status = 0
    try:
        if not run_video(args.source, args, analyze_options, records, summaries, live=not args.no_realtime,
                         stream_lines=True):
            status = 1
    except KeyboardInterrupt:
        log.error("interrupted: writing the %d record(s) analysed so far", len(records))
        status = 1
    if records:
        if args.out:
            write_table(records, args.out)
        write_video_outputs(args, summaries)
    return status


def add_live_parser(sub) -> None:
    lv = sub.add_parser("live", help="analyse a camera, a stream URL or a file played as a live stream")
    lv.add_argument("source", metavar="SOURCE", help="camera index (0, 1 …), stream URL (rtsp://, http://) or video file")
    lv.add_argument("--json", action="store_true", help="print one JSON object per face per frame (default: one line per frame)")
    lv.add_argument("--out", metavar="FILE", help="also write all records to FILE (.csv, .jsonl or .parquet) at the end")
    lv.add_argument("--annotate", metavar="FILE", help="record the annotated stream to FILE (.mp4, .mkv …)")
    lv.add_argument("--max-frames", type=int, default=None, metavar="N", help="stop after N analysed frames")
    lv.add_argument("--no-realtime", action="store_true",
                    help="analyse every frame of a file instead of dropping frames to keep up with real time")
    lv.add_argument("--model", default=None, help="expression model name (see 'affectlens models')")
    lv.add_argument("--min-face", type=int, default=20, metavar="PX", help="skip faces smaller than PX pixels (default 20)")
    lv.add_argument("--threshold", type=float, default=0.7, help="face detector score threshold (default 0.7)")
    add_video_options(lv)
    lv.set_defaults(func=cmd_live)
