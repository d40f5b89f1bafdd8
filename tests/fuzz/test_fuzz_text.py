"""Fuzz: hostile texts (control characters, lone surrogates, huge lines, formulas, RTL marks,
emoji, NUL; as arguments, files in careless encodings and stdin), hostile JSON transcripts (deep
nesting, NaN/Infinity, huge numbers, wrong types) and mutated .srt/.vtt files beside good ones
keep the promise (see promise.py), in process and through the CLI."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from conftest import fuzz, keep_finding, note_case
from hypothesis import strategies as st
from mutate import ENCODINGS, apply_all, encode_text, hostile_json, hostile_text, mutations
from promise import check_cli, check_in_process, run_cli

from affectlens.jobs.run import Texts, Typed

texts = st.lists(hostile_text(), min_size=1, max_size=6)


def _bad_transcript(seeds, data, folder: Path) -> tuple[Path, str]:
    """A hostile .json transcript, or a mutated .srt/.vtt with hostile text spliced in."""
    kind = data.draw(st.sampled_from(("json", "json", "srt", "vtt")), label="transcript kind")
    if kind == "json":
        raw, how = data.draw(hostile_json(), label="json").encode("utf-8", "surrogatepass"), "hostile json"
    else:
        edits = data.draw(mutations(kind), label="edits")
        splice = encode_text(data.draw(hostile_text(), label="splice"), "utf-8")
        raw = apply_all(seeds[kind].data, edits)
        at = data.draw(st.integers(0, len(raw)), label="splice at")
        raw, how = raw[:at] + splice + raw[at:], "mutated " + "+".join(e.name for e in edits)
    path = folder / f"bad.{kind}"
    path.write_bytes(raw)
    return path, how


def test_hostile_texts_in_process(request, seeds, runner, good_counts):
    fuzz(
        request,
        lambda lines, data: _texts_in_process(seeds, runner, good_counts, lines, data),
        6,
        lines=texts,
        data=st.data(),
    )


def _texts_in_process(seeds, runner, good_counts, lines, data):
    """Texts given directly, and the same texts in a file in a careless encoding."""
    good = Typed(str(seeds["txt"].path), "text")
    how = data.draw(st.sampled_from(ENCODINGS), label="encoding")
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "bad.txt"
        bad.write_bytes(encode_text("\n".join(lines), how))
        t0 = time.perf_counter()
        try:
            results = check_in_process(
                runner,
                [Texts(tuple(lines)), Typed(str(bad), "text"), good],
                {"<args>", str(bad)},
                {good.path: good_counts(good)},
            )
            scored = sum(1 for r in results if getattr(r, "source", None) == "<args>")
            assert scored == len(lines), f"{scored} results for {len(lines)} texts given"
        except AssertionError as exc:
            keep_finding(bad.read_bytes(), ".txt", str(exc), f"affectlens text --file {bad.name} ({how})")
            raise
    note_case("texts in process", "txt", ["hostile text", how], time.perf_counter() - t0)


def test_hostile_transcripts_in_process(request, seeds, runner, good_counts):
    fuzz(request, lambda data: _transcripts_in_process(seeds, runner, good_counts, data), 6, data=st.data())


def _transcripts_in_process(seeds, runner, good_counts, data):
    good = Typed(str(seeds["srt"].path), "transcript")
    with tempfile.TemporaryDirectory() as tmp:
        bad, how = _bad_transcript(seeds, data, Path(tmp))
        items = [Typed(str(bad), "transcript"), good]
        t0 = time.perf_counter()
        try:
            check_in_process(runner, items, {str(bad)}, {good.path: good_counts(good)})
        except AssertionError as exc:
            keep_finding(bad.read_bytes(), bad.suffix, str(exc), f"affectlens text --transcript {bad.name}")
            raise
    note_case(
        "transcripts in process", bad.suffix[1:], [how.split(" ")[0] + " " + bad.suffix[1:]], time.perf_counter() - t0
    )


#: Longest command-line argument Linux accepts is 128 KiB (MAX_ARG_STRLEN); huge texts go in files.
MAX_ARG_BYTES = 100_000


def _argv_text(text: str) -> bytes:
    """A text as a command-line argument: bytes (lone surrogates as invalid UTF-8), no NUL, cut
    to :data:`MAX_ARG_BYTES`."""
    return text.replace("\x00", "").encode("utf-8", "surrogatepass")[:MAX_ARG_BYTES]


def test_hostile_text_cli(request, seeds, good_counts):
    fuzz(
        request,
        lambda lines, stdin, data: _text_cli(seeds, good_counts, lines, stdin, data),
        2,
        shrink=False,
        lines=texts,
        stdin=hostile_text(),
        data=st.data(),
    )


def _text_cli(seeds, good_counts, lines, stdin, data):
    """One ``affectlens text`` run: hostile arguments, a hostile file, hostile stdin, a hostile
    transcript, and a good file and transcript among them."""
    good_txt, good_srt = str(seeds["txt"].path), str(seeds["srt"].path)
    how = data.draw(st.sampled_from(ENCODINGS), label="encoding")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        bad_txt = folder / "bad.txt"
        bad_txt.write_bytes(encode_text("\n".join(lines), how))
        bad_tr, tr_how = _bad_transcript(seeds, data, folder)
        args = [
            "--file",
            str(bad_txt),
            "--transcript",
            str(bad_tr),
            "--file",
            good_txt,
            "--transcript",
            good_srt,
            "--file=-",
            "--",
            *map(_argv_text, lines),
        ]
        t0 = time.perf_counter()
        outcome = run_cli("text", args, folder / "out" / "texts.jsonl", stdin=encode_text(stdin, how))
        try:
            check_cli(
                outcome,
                [str(bad_txt), str(bad_tr), "-: "],
                {
                    good_txt: good_counts(Typed(good_txt, "text")),
                    good_srt: good_counts(Typed(good_srt, "transcript")),
                    "<args>": len(lines),
                },
            )
        except AssertionError as exc:
            for path in (bad_txt, bad_tr):
                keep_finding(path.read_bytes(), path.suffix, str(exc), "affectlens text " + repr(args))
            raise
    note_case("text cli", "txt", ["hostile text", how], time.perf_counter() - t0)
    note_case("text cli", bad_tr.suffix[1:], [tr_how.split(" ")[0] + " " + bad_tr.suffix[1:]], 0.0)
