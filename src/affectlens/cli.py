"""Command line: thin wrappers that parse, call the library and format."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("affectlens")


def _setup_logging(verbose: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("affectlens: %(message)s"))
    log.handlers[:] = [handler]
    log.setLevel(logging.DEBUG if verbose else logging.INFO)
    log.propagate = False


def _progress(iterable, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="img", disable=not sys.stderr.isatty() or total < 2, leave=False)


# -- analyze ---------------------------------------------------------------------------------
def _annotate_path(folder: Path, source: str, used: set[str]) -> Path:
    stem = Path(source).stem
    name, n = f"{stem}.png", 1
    while name in used:
        n += 1
        name = f"{stem}-{n}.png"
    used.add(name)
    return folder / name


def _print_table(records: list[dict]) -> None:
    import pandas as pd

    rows = []
    why = any(rec.get("rationale") for rec in records)
    for r in records:
        ranked = sorted(r["probs"].items(), key=lambda kv: -kv[1])
        rows.append(
            {
                "source": r["source"],
                "face": "-" if r["face"] is None else r["face"],
                "box": "-" if r["box"] is None else " ".join(f"{v:.0f}" for v in r["box"]),
                "score": "-" if r["score"] is None else f"{r['score']:.2f}",
                "expression": r["expression"] or "(no face)",
                "p": f"{ranked[0][1]:.2f}" if ranked else "-",
                "runner-up": f"{ranked[1][0]} {ranked[1][1]:.2f}" if len(ranked) > 1 else "-",
            }
        )
        if why:  # with the face mesh: what was measured
            rows[-1]["why"] = r.get("rationale") or "-"
    if rows:
        sys.stdout.write(pd.DataFrame(rows).to_string(index=False) + "\n")


def cmd_analyze(args) -> int:
    from affectlens.export import image_records, write_table
    from affectlens.export.segments import segments_to_frame
    from affectlens.io.image import InputError, load_image
    from affectlens.pipeline import Analyzer, AnalyzeOptions
    from affectlens.cli_video import check_outputs, detect_size, print_summary, run_video, write_video_outputs
    from affectlens.pipeline.video import VIDEO_CLASSIFIER_THREADS
    from affectlens.io.video import find_inputs
    from affectlens.viz.video import VIDEO_OUT_SUFFIXES

    options = AnalyzeOptions(
        model=args.model, crop_mode=args.crop_mode, min_face=args.min_face, score_threshold=args.threshold,
        landmarks=args.landmarks,
    )
    from affectlens import cli_speech

    paths, videos, missing = find_inputs(args.paths)
    paths, audios = cli_speech.split_audio(args.paths, paths) if paths or any(Path(p).is_dir() for p in args.paths) \
        else (paths, [])
    analyzer = Analyzer(options) if paths else None  # images only: audio and video build their own
    check_outputs(args)
    failures = 0
    for m in missing:
        log.error("error: %s: no such file or folder", m)
        failures += 1
    if args.out:
        suffix = Path(args.out).suffix.lower()
        if suffix not in (".csv", ".jsonl", ".parquet"):
            log.error("error: --out %s: unsupported format %r; valid: .csv, .jsonl, .parquet", args.out, suffix)
            return 2
    annotate_video = bool(args.annotate) and Path(args.annotate).suffix.lower() in VIDEO_OUT_SUFFIXES
    if annotate_video and paths:
        log.info("--annotate %s names a video file: the images are not annotated", args.annotate)
    annotate_dir = Path(args.annotate) if args.annotate and not annotate_video else None
    if annotate_dir:
        annotate_dir.mkdir(parents=True, exist_ok=True)
    records: list[dict] = []
    segments: list[dict] = []  # speech-segment records (audio files, videos with sound)
    summaries: list = []
    used: set[str] = set()
    explained: set[str] = set()
    if args.explain and videos:
        log.info("--explain covers images only: the videos are not explained")
    try:
        for audio in audios:
            if not cli_speech.run_audio(audio, args, segments):
                failures += 1
        for video in videos:
            video_options = dataclasses.replace(options, detect_max_side=detect_size(args),
                                                threads=VIDEO_CLASSIFIER_THREADS)
            has_video, has_audio = cli_speech.stream_kinds(video)
            readable = has_video or has_audio  # else run_video reports why, in one line
            if has_audio and not has_video and args.modalities != "face":
                ok = cli_speech.run_audio(video, args, segments)
            elif readable and cli_speech.wants_segments(args, has_audio):
                ok = cli_speech.run_av_video(video, args, video_options, segments, summaries, many=len(videos) > 1)
            else:
                if readable and not has_audio:
                    log.info("%s: no audio stream: face only", video)
                ok = run_video(video, args, video_options, records, summaries, many=len(videos) > 1,
                               stream_lines=args.json)
            failures += not ok
        for path in _progress(paths, len(paths), "analyze"):
            try:
                loaded = load_image(path)
                result = analyzer.analyze(loaded.pixels, source=path)
            except InputError as exc:
                log.error("error: %s", exc)
                failures += 1
                continue
            recs = image_records(result)
            records += recs
            if args.json:
                for rec in recs:
                    sys.stdout.write(json.dumps(rec) + "\n")
                sys.stdout.flush()
            if result.skipped_small:
                log.info("%s: skipped %d face(s) smaller than %d px", path, result.skipped_small, options.min_face)
            if annotate_dir:
                from affectlens.viz import annotate

                annotate(loaded.pixels, result).save(_annotate_path(annotate_dir, path, used))
            if args.explain:
                from affectlens.viz.explain import write_explanations

                stem = _annotate_path(Path(args.explain), path, explained).stem
                write_explanations(analyzer, loaded.pixels, result, recs, Path(args.explain), stem)
    except KeyboardInterrupt:
        log.error("interrupted: writing the %d record(s) analysed so far", len(records))
        failures += 1
    if args.out:
        if segments and records:  # two schemas: the speech segments go beside the face rows
            out = Path(args.out)
            seg_out = out.with_name(f"{out.stem}-segments{out.suffix}")
            log.info("speech segments written to %s (face rows to %s)", seg_out, out)
            write_table(records, out)
            write_table(segments, seg_out, to_frame=segments_to_frame)
        elif segments:
            write_table(segments, args.out, to_frame=segments_to_frame)
        else:
            write_table(records, args.out)
    write_video_outputs(args, summaries)
    if not args.json and not args.quiet:
        _print_table([r for r in records if "frame" not in r])
        cli_speech.print_segments(segments)
        print_summary(summaries)
    if not paths and not videos and not audios and not missing:
        log.error("error: no images, audio or videos found in %s", " ".join(args.paths))
        return 1
    return 1 if failures else 0


def demo_photo() -> str:
    from importlib import resources

    return str(resources.files("affectlens") / "data" / "astronaut.jpg")


def cmd_demo(args) -> int:
    path = demo_photo()
    log.info("analysing the bundled demo photo %s", path)
    args.paths = [path]
    return cmd_analyze(args)


# -- models ----------------------------------------------------------------------------------
def cmd_models(args) -> int:
    from affectlens.registry import default_model_name, list_models

    cfgs = list_models()
    defaults = {default_model_name(kind) for kind in {c.kind for c in cfgs}}
    if args.json:
        for c in cfgs:
            sys.stdout.write(json.dumps({**c.to_json(), "default": c.name in defaults}) + "\n")
        return 0
    import pandas as pd

    rows = []
    for c in cfgs:
        row = {"name": c.name + (" (default)" if c.name in defaults else ""), "kind": c.kind, "labels": len(c.labels),
               "input": {"expression": f"{c.input_size}x{c.input_size} {c.colour}",
                         "speech": f"16 kHz speech, {c.band} band, {c.input}"}.get(c.kind, c.kind)}
        for key, value in c.metrics.items():  # accuracies, F1 and speed; all metrics: --json
            headline = key.endswith(("_acc", "_macro_f1", "_weighted_f1")) and "dedup" not in key and "single" not in key
            if isinstance(value, (int, float)) and (headline or key in ("ms_per_face", "ms_per_text")):
                row[key] = round(value, 3)
        rows.append(row)
    sys.stdout.write(pd.DataFrame(rows).astype(object).fillna("").to_string(index=False) + "\n")
    return 0


def _add_analyze_options(a: argparse.ArgumentParser) -> None:
    a.add_argument("--json", action="store_true", help="print one JSON object per face per line")
    a.add_argument("--out", metavar="FILE", help="write all records to FILE (.csv, .jsonl or .parquet)")
    a.add_argument("--annotate", metavar="DIR|FILE",
                   help="write each image (and each video as <name>.mp4) with boxes and labels drawn into DIR; "
                        "or, for a video, to FILE (.mp4, .mov, .mkv, .webm, .avi)")
    a.add_argument("--explain", metavar="DIR",
                   help="write per face of each image a heatmap PNG of the regions that drove the prediction "
                        "(occlusion sensitivity) and a JSON sidecar with its numbers into DIR")
    a.add_argument("--crop-mode", choices=("detect", "face"), default="detect",
                   help="detect: find faces (default); face: each image is one already-cropped face")
    a.add_argument("--model", default=None, help="expression model name (see 'affectlens models')")
    a.add_argument("--min-face", type=int, default=20, metavar="PX", help="skip faces smaller than PX pixels (default 20)")
    a.add_argument("--threshold", type=float, default=0.7, help="face detector score threshold (default 0.7)")
    a.add_argument("-q", "--quiet", action="store_true", help="no table on stdout")
    from affectlens.cli_video import add_video_options

    add_video_options(a)
    from affectlens.cli_speech import add_speech_options

    add_speech_options(a)


def build_parser() -> argparse.ArgumentParser:
    from affectlens import __version__

    p = argparse.ArgumentParser(prog="affectlens", description="Offline emotion recognition: facial expressions "
                                "in photos and videos, voice, text, and their fusion.")
    p.add_argument("--version", action="version", version=f"affectlens {__version__}")
    p.add_argument("-v", "--verbose", action="store_true", help="more diagnostics on stderr")
    sub = p.add_subparsers(dest="command", required=True)

    a = sub.add_parser("analyze", help="emotions in images, audio and videos (face, voice, fused)")
    a.add_argument("paths", nargs="+", metavar="PATH",
                   help="image, audio or video files or folders (searched recursively); files are recognised by content")
    _add_analyze_options(a)
    a.set_defaults(func=cmd_analyze)

    d = sub.add_parser("demo", help="analyse the bundled demo photo (same options as analyze)")
    _add_analyze_options(d)
    d.set_defaults(func=cmd_demo)

    m = sub.add_parser("models", help="list registered models with their measured metrics")
    m.add_argument("--json", action="store_true", help="one JSON object per model")
    m.set_defaults(func=cmd_models)

    from affectlens.cli_eval import add_calibrate_parser, add_eval_parser, add_train_parser
    from affectlens.cli_text import add_text_parser
    from affectlens.cli_video import add_live_parser

    add_live_parser(sub)
    add_text_parser(sub)

    add_eval_parser(sub)
    add_calibrate_parser(sub)
    add_train_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except (ValueError, ImportError, LookupError, FileNotFoundError) as exc:
        log.error("error: %s", exc)
        return 2
    except BrokenPipeError:  # e.g. piped into head
        return 0


if __name__ == "__main__":
    sys.exit(main())
