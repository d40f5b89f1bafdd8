"""``affectlens text``: emotion of texts, text files and timed transcripts (thin wrapper)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("affectlens")


def add_text_parser(sub) -> None:
    t = sub.add_parser(
        "text", help="emotion of English texts, text files (one text per line) and transcripts (.srt/.vtt/.json)",
        description="Score the emotion of each text over the 8 canonical labels (the text model never predicts "
                    "contempt). Empty texts get the status 'empty', confidently non-English ones 'unsupported "
                    "language'; neither gets a label. Transcript segments are scored with the 2 previous segments "
                    "as dialogue context.")
    t.add_argument("texts", nargs="*", metavar="TEXT", help="texts to score")
    t.add_argument("--file", action="append", default=[], metavar="FILE",
                   help="a UTF-8 text file with one text per line ('-' = stdin); repeatable")
    t.add_argument("--transcript", action="append", default=[], metavar="FILE",
                   help="a .srt, .vtt or .json transcript; each segment is scored with its times; repeatable")
    t.add_argument("--json", action="store_true", help="print one JSON object per text per line")
    t.add_argument("--out", metavar="FILE", help="write all records to FILE (.csv, .jsonl or .parquet)")
    t.add_argument("--model", default=None, help="text model name (see 'affectlens models')")
    t.add_argument("--no-language-check", action="store_true",
                   help="score every non-empty text as English (skip the 'unsupported language' check)")
    t.add_argument("-q", "--quiet", action="store_true", help="no table on stdout")
    t.set_defaults(func=cmd_text)


def _read_lines(name: str) -> list[str]:
    if name == "-":
        return sys.stdin.read().splitlines()
    path = Path(name)
    if not path.is_file():
        raise ValueError(f"{name}: no such file")
    try:
        return path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeDecodeError as exc:
        raise ValueError(f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None


def _print_table(records: list[dict]) -> None:
    import pandas as pd

    rows = []
    for r in records:
        ranked = sorted(r["probs"].items(), key=lambda kv: -kv[1])
        when = "-" if r["start_ms"] is None else f"{r['start_ms'] / 1000:.2f}-{r['end_ms'] / 1000:.2f}s"
        text = r["text"] if len(r["text"]) <= 48 else r["text"][:45] + "..."
        rows.append({"source": r["source"], "#": r["index"], "time": when,
                     "emotion": r["emotion"] or f"({r['status']})",
                     "p": f"{ranked[0][1]:.2f}" if ranked else "-",
                     "runner-up": f"{ranked[1][0]} {ranked[1][1]:.2f}" if ranked else "-", "text": text})
    if rows:
        sys.stdout.write(pd.DataFrame(rows).to_string(index=False) + "\n")


def _score(texts: list[str], contexts, args, chunk: int = 500) -> list:
    """Score in chunks so a long file shows a progress bar on a terminal."""
    from tqdm.auto import tqdm

    from affectlens.pipeline.text import analyze_texts

    contexts = contexts or [""] * len(texts)
    out = []
    starts = range(0, len(texts), chunk)
    for i in tqdm(starts, desc="text", unit="chunk", disable=not sys.stderr.isatty() or len(starts) < 4, leave=False):
        out += analyze_texts(texts[i:i + chunk], contexts[i:i + chunk], model=args.model,
                             check_language=not args.no_language_check)
    return out


def cmd_text(args) -> int:
    from affectlens.export import text_records, text_records_to_frame, write_table
    from affectlens.export.table import TABLE_SUFFIXES
    from affectlens.io.transcript import TranscriptError, read_transcript
    from affectlens.pipeline.text import dialogue_contexts

    if not (args.texts or args.file or args.transcript):
        log.error("error: nothing to score: give TEXT arguments, --file FILE or --transcript FILE")
        return 2
    if args.out and Path(args.out).suffix.lower() not in TABLE_SUFFIXES:
        log.error("error: --out %s: unsupported format %r; valid: %s", args.out, Path(args.out).suffix.lower(),
                  ", ".join(TABLE_SUFFIXES))
        return 2
    records: list[dict] = []
    failures = 0

    def emit(recs: list[dict]) -> None:
        records.extend(recs)
        if args.json:
            for rec in recs:
                sys.stdout.write(json.dumps(rec) + "\n")
            sys.stdout.flush()

    if args.texts:
        emit(text_records(_score(args.texts, None, args), source="<args>"))
    for name in args.file:
        try:
            lines = _read_lines(name)
        except ValueError as exc:
            log.error("error: %s", exc)
            failures += 1
            continue
        if not lines:
            log.info("%s: the file holds no lines", name)
        emit(text_records(_score(lines, None, args), source="<stdin>" if name == "-" else name))
    for name in args.transcript:
        try:
            segments = read_transcript(name)
        except TranscriptError as exc:
            log.error("error: %s", exc)
            failures += 1
            continue
        texts = [s.text for s in segments]
        emit(text_records(_score(texts, dialogue_contexts(texts), args), source=name, segments=segments))
    if args.out:
        write_table(records, args.out, to_frame=text_records_to_frame)
    if not args.json and not args.quiet:
        _print_table(records)
    return 1 if failures else 0
