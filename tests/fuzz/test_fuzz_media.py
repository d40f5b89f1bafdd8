"""Fuzz: mutated photos, audio and video (byte flips, truncation, insertion, deletion, edge
values, WAV/PNG/JPEG header patches, wrong suffixes) beside a good input keep the promise
(see promise.py), in process and through the CLI."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from conftest import fuzz, keep_finding, note_case
from hypothesis import strategies as st
from mutate import apply_all, mutations, suffixes
from promise import check_cli, check_in_process, run_cli

MEDIA = ("jpeg", "png", "flac", "wav", "mp4")


def _write_mutant(seed, data, folder: Path, index: int = 0) -> tuple[Path, tuple, str]:
    edits = data.draw(mutations(seed.name), label=f"edits {index}")
    suffix = data.draw(suffixes(seed.path.suffix), label=f"suffix {index}")
    path = folder / f"mutated{index}{suffix}"
    path.write_bytes(apply_all(seed.data, edits))
    return path, edits, suffix


@pytest.mark.parametrize("name", MEDIA)
def test_mutated_media_in_process(request, seeds, runner, good_counts, name):
    fuzz(request, lambda data: _media_in_process(seeds, runner, good_counts, name, data), 3, data=st.data())


def _media_in_process(seeds, runner, good_counts, name, data):
    seed = seeds[name]
    good = str(seed.path)
    with tempfile.TemporaryDirectory() as tmp:
        bad, edits, _ = _write_mutant(seed, data, Path(tmp))
        items = [str(bad), good] if data.draw(st.booleans(), label="bad first") else [good, str(bad)]
        t0 = time.perf_counter()
        try:
            check_in_process(runner, items, {str(bad)}, {good: good_counts(good)})
        except AssertionError as exc:
            keep_finding(bad.read_bytes(), bad.suffix, str(exc), f"affectlens analyze {good} {bad.name}")
            raise
    note_case("media in process", name, [e.name for e in edits], time.perf_counter() - t0)


def test_mutated_media_cli(request, seeds, good_counts):
    fuzz(request, lambda data: _media_cli(seeds, good_counts, data), 2, shrink=False, data=st.data())


def _media_cli(seeds, good_counts, data):
    """One CLI run: one to three mutated media files around a good one."""
    good_seed = seeds[data.draw(st.sampled_from(MEDIA), label="good")]
    good = str(good_seed.path)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        names = data.draw(st.lists(st.sampled_from(MEDIA), min_size=1, max_size=3), label="mutated seeds")
        mutants = [_write_mutant(seeds[n], data, folder, i) for i, n in enumerate(names)]
        args = [str(m[0]) for m in mutants]
        args.insert(data.draw(st.integers(0, len(args)), label="good at"), good)
        t0 = time.perf_counter()
        outcome = run_cli("analyze", args, folder / "out" / "records.jsonl")
        try:
            check_cli(outcome, [str(m[0]) for m in mutants], {good: good_counts(good)})
        except AssertionError as exc:
            for path, _, suffix in mutants:
                keep_finding(path.read_bytes(), suffix, str(exc), "affectlens analyze " + " ".join(args))
            raise
    for n, (_, edits, _) in zip(names, mutants):
        note_case("media cli", n, [e.name for e in edits], time.perf_counter() - t0)


def test_good_video_through_the_cli_keeps_the_promise(seeds, good_counts, tmp_path):
    """The track summaries a video adds to ``--out`` are not counted as its results (a fuzz
    run found the check counting them whenever the good input was the video)."""
    good = str(seeds["mp4"].path)
    outcome = run_cli("analyze", [good], tmp_path / "out" / "records.jsonl")
    assert (tmp_path / "out" / "records-tracks.jsonl").is_file()
    check_cli(outcome, [], {good: good_counts(good)})
