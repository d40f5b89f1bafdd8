"""``affectlens batch`` on a real corpus built from ../shared by benchmarks/batch_corpus.py.

The corpus (FER+ test photos, two short videos, RAVDESS clips, four corrupt files, and a
manifest CSV with metadata columns) is analysed once without interruption (the reference);
every other run must end with tables identical to it: after ``kill -9`` of the whole run and a
rerun (both engines), after a worker process is killed mid-task, after Ctrl-C and a rerun. The
reference itself must match ``affectlens.run`` + the table writers row for row.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import affectlens
from affectlens.batch import run_batch
from affectlens.export.records import _TO_FRAME, TABLE_KINDS, records_of
from affectlens.options import Options
from affectlens.types import InputFailure

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
import batch_corpus  # noqa: E402

OPTIONS = Options().replace(fps=5)  # 5 frames per second keeps the videos' share of the test short
TIMEOUT = 600


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("corpus")
    batch_corpus.build(dest, photos=12, copies=1, audio=2)
    OPTIONS.save(dest / "run.toml")
    return dest


def batch_cmd(corpus: Path, out: Path, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "affectlens.cli",
        "batch",
        str(corpus / "manifest.csv"),
        "--out",
        str(out),
        "--config",
        str(corpus / "run.toml"),
        "--workers",
        "2",
        "--progress",
        "json",
        *extra,
    ]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src")] + [p for p in [e.get("PYTHONPATH")] if p])
    return e


def run_cli(cmd: list[str]) -> tuple[int, list[dict], str]:
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT, env=env())
    return p.returncode, [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def tables(out: Path) -> dict[str, pd.DataFrame]:
    return {k: pd.read_parquet(out / k) for k in TABLE_KINDS if (out / k).exists()}


def manifest(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "runs.parquet").set_index("input")


def assert_same_tables(a: Path, b: Path) -> None:
    ta, tb = tables(a), tables(b)
    assert ta.keys() == tb.keys()
    for kind in ta:
        pd.testing.assert_frame_equal(ta[kind], tb[kind], obj=kind)
    ma, mb = manifest(a), manifest(b)
    cols = ["content_hash", "options_hash", "state", "rows", "frames", "error"]
    pd.testing.assert_frame_equal(ma[cols].sort_index(), mb[cols].sort_index())


@pytest.fixture(scope="module")
def reference(corpus, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "out"
    code, events, err = run_cli(batch_cmd(corpus, out))
    assert code == 1, err  # the four corrupt files fail; everything else is done
    report = events[-1]
    assert report["event"] == "report" and report["failed"] == 4 and report["done"] == report["total"] - 4, report
    return out


def _descendants(pid: int, direct: bool = False) -> list[int]:
    """Every process below ``pid`` (only its children if ``direct``), from /proc, so a test ends
    exactly the processes it started."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.append(c)
            todo += [] if direct else [c]
    return out


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _terminal_signals() -> None:
    """Ctrl-C as on a terminal: a shell without job control (CI runners, ``cmd &`` in a script)
    starts its background jobs with SIGINT ignored, and an ignored signal stays ignored across
    exec, so the run would never see the test's Ctrl-C and would finish on its own."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def interrupt_after(cmd: list[str], events: int, how: str) -> subprocess.Popen:
    """Start ``cmd``; after ``events`` finished inputs: ``kill`` (kill -9 of the whole run),
    ``worker`` (kill -9 of one worker process) or ``int`` (Ctrl-C, SIGINT to the driver)."""
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env(),
        start_new_session=True,
        preexec_fn=_terminal_signals,
    )
    seen = 0
    for line in proc.stdout:
        seen += json.loads(line)["event"] == "input"
        if seen >= events:
            break
    if how == "int":  # at once: nothing to look up first
        proc.send_signal(signal.SIGINT)
        return proc
    family = _descendants(proc.pid)
    if how == "kill":
        _kill([proc.pid] + family)
    elif how == "worker":
        workers = [p for p in _descendants(proc.pid, direct=True) if b"spawn_main" in _cmdline(p)]
        assert workers, "no worker process found"
        _kill(workers[:1])
    return proc


def finish(proc: subprocess.Popen) -> tuple[int, list[dict], str]:
    try:
        out, err = proc.communicate(timeout=TIMEOUT)
    finally:
        _kill(_descendants(proc.pid) + [proc.pid])
    return proc.returncode, [json.loads(line) for line in out.splitlines()], err


# -- the tables ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_tables_match_analyze_row_for_row(corpus, reference):
    paths = pd.read_csv(corpus / "manifest.csv")
    rows: dict[str, list[dict]] = {k: [] for k in TABLE_KINDS}
    failed = {}
    from affectlens.export.video import TrackSummarizer, summary_records

    tracks: dict[str, TrackSummarizer] = {}  # the tracks table: one summary per video face track
    for r in affectlens.run(list(paths["path"]), OPTIONS):
        if isinstance(r, InputFailure):
            failed[r.source] = r.reason
            continue
        kind, recs = records_of(r)
        rows[kind] += recs
        if isinstance(r, affectlens.FrameResult):
            tracks.setdefault(r.source, TrackSummarizer()).add(r)
    rows["tracks"] = [rec for acc in tracks.values() for rec in summary_records(acc.summaries())]
    batch = tables(reference)
    meta = paths.set_index("path")
    for kind in TABLE_KINDS:
        if not rows[kind]:
            assert kind not in batch
            continue
        expected = _TO_FRAME[kind](rows[kind])
        got = batch[kind]
        assert len(got) == len(expected)
        assert got["group"].tolist() == meta.loc[got["source"], "group"].tolist()  # manifest metadata carried
        extra = [c for c in got.columns if c not in expected.columns and c not in ("group", "item")]
        assert got[extra].isna().all().all(), f"{kind}: columns {extra} hold values analyze does not give"
        for source, part in got.groupby("source", sort=False):
            want = expected[expected["source"] == source]
            pd.testing.assert_frame_equal(
                part[list(expected.columns)].reset_index(drop=True),
                want.reset_index(drop=True),
                check_dtype=False,
                obj=f"{kind} {source}",
            )
    runs = manifest(reference)
    assert set(runs.index[runs["state"] == "failed"]) == set(failed)
    for source, reason in failed.items():
        assert runs.loc[source, "error"] == reason
    assert (runs.loc[runs["state"] == "done", "rows"] > 0).all()


@pytest.mark.slow
def test_rerun_skips_everything_and_changes_nothing(corpus, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("part-*.parquet")}
    code, events, err = run_cli(batch_cmd(corpus, out))
    report = events[-1]
    assert report["skipped"] == report["total"] - 4 and report["failed"] == 4 and report["done"] == 0, report
    assert {p: p.stat().st_mtime_ns for p in out.rglob("part-*.parquet")} == before
    assert_same_tables(out, reference)


@pytest.mark.slow
def test_other_options_are_refused(corpus, reference, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(reference, out)
    other = tmp_path / "other.toml"
    Options().replace(fps=2).save(other)
    cmd = batch_cmd(corpus, out)
    cmd[cmd.index("--config") + 1] = str(other)
    code, _, err = run_cli(cmd)
    assert code == 2
    assert "holds results of other options" in err and "options.toml" in err, err


# -- interruptions ---------------------------------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("how", ["kill", "int"])
def test_interrupted_run_resumes_to_identical_tables(corpus, reference, tmp_path, how):
    out = tmp_path / "out"
    total = len(pd.read_csv(corpus / "manifest.csv"))
    # within the first half, so inputs are still running when the signal lands: near the end the
    # last few (corrupt files, short clips) could all finish first and the run end on its own
    at = random.randrange(1, total // 2)
    code, events, err = finish(interrupt_after(batch_cmd(corpus, out), at, how))
    if how == "int":
        assert code == 130, err
        assert events[-1]["interrupted"] and events[-1]["done"] + events[-1]["failed"] >= at, events[-1]
        assert manifest(out)["state"].isin(["done", "failed", "running"]).all()
    else:
        assert code == -signal.SIGKILL
    code, events, err = run_cli(batch_cmd(corpus, out))
    assert code == 1 and events[-1]["skipped"] >= 1, (at, err)
    assert not list(out.rglob("*.tmp")), "temporary files left"
    assert_same_tables(out, reference)


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_input_retried(corpus, reference, tmp_path):
    out = tmp_path / "out"
    code, events, err = finish(interrupt_after(batch_cmd(corpus, out), 2, "worker"))
    report = events[-1]
    assert code == 1, err
    assert report["worker_restarts"] >= 1 and report["retries"] >= 1, report
    assert report["failed"] == 4 and report["done"] == report["total"] - 4, report
    assert_same_tables(out, reference)


@pytest.mark.slow
def test_ray_engine_kill9_resumes_to_identical_tables(corpus, reference, tmp_path):
    pytest.importorskip("ray", reason="the ray engine needs the [ray] extra (pip install 'affectlens[ray]')")
    out = tmp_path / "out"
    total = len(pd.read_csv(corpus / "manifest.csv"))
    at = random.randrange(1, total - 2)
    code, _, err = finish(interrupt_after(batch_cmd(corpus, out, "--engine", "ray"), at, "kill"))
    code, events, err = run_cli(batch_cmd(corpus, out, "--engine", "ray"))
    assert code == 1 and events[-1]["engine"] == "ray", (at, err)
    assert_same_tables(out, reference)


# -- failures inside one run -----------------------------------------------------------------------
# A full output disk, in every process of the run (driver and spawned workers): Python imports
# ``sitecustomize`` at start-up from the path, and this one makes the part writer raise ENOSPC
# for the one input named by the environment.
FULL_DISK = """
import errno, os
if os.environ.get("FULL_DISK_INPUT"):
    import affectlens.batch.task as task
    real = task._Parts._flush
    def _flush(self, kind):
        if self.task.path == os.environ["FULL_DISK_INPUT"]:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, kind)
    task._Parts._flush = _flush
"""


def test_bad_inputs_a_deleted_input_and_a_full_disk_are_recorded(corpus, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(FULL_DISK, encoding="utf-8")
    photos = sorted((corpus / "photos").glob("*.png"))[:4]
    doomed = tmp_path / "deleted_during_run.png"
    shutil.copyfile(photos[0], doomed)
    full_disk = str(photos[1])
    corrupt = sorted(str(p) for p in (corpus / "corrupt").iterdir())
    missing = str(tmp_path / "never_there.jpg")
    inputs = [str(p) for p in photos] + corrupt + [missing, str(doomed)]
    out = tmp_path / "out"
    e = env()
    e.update(PYTHONPATH=os.pathsep.join([str(site), e["PYTHONPATH"]]), FULL_DISK_INPUT=full_disk)
    cmd = [
        sys.executable,
        "-m",
        "affectlens.cli",
        "batch",
        *inputs,
        "--out",
        str(out),
        "--workers",
        "1",
        "--retries",
        "1",
        "--progress",
        "json",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)
    assert json.loads(proc.stdout.readline())["event"] == "start"
    doomed.unlink()  # listed, then gone before its turn (it is last)
    code, events, err = finish(proc)
    assert code == 1, err
    runs = manifest(out)
    assert runs.loc[full_disk, "state"] == "failed" and "No space left on device" in runs.loc[full_disk, "error"]
    assert runs.loc[full_disk, "attempts"] == 2  # the first try and one retry
    assert runs.loc[str(doomed), "state"] == "failed" and "No such file" in runs.loc[str(doomed), "error"]
    for bad in corrupt + [missing]:
        assert runs.loc[bad, "state"] == "failed" and runs.loc[bad, "error"].startswith(bad), runs.loc[bad]
    good = [str(p) for p in photos if str(p) != full_disk]
    assert (runs.loc[good, "state"] == "done").all()
    faces = pd.read_parquet(out / "faces")
    assert sorted(set(faces["source"])) == sorted(good)  # nothing else lost, nothing of the failed ones written
    assert not list(out.rglob("*.tmp"))
    report = events[-1]
    assert report["failed"] == len(inputs) - len(good) and report["retries"] == 1, report


def test_ray_missing_names_the_extra(corpus, tmp_path, monkeypatch, capsys):
    from affectlens.cli import main

    monkeypatch.setitem(sys.modules, "ray", None)  # import ray → ImportError
    photo = str(next((corpus / "photos").glob("*.png")))
    assert main(["batch", photo, "--out", str(tmp_path / "out"), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["affectlens: error: the ray engine needs the [ray] extra: pip install 'affectlens[ray]'"]


# -- inputs and idempotence --------------------------------------------------------------------------
def test_inputs_from_folders_globs_and_manifests(corpus, tmp_path):
    from affectlens.batch.inputs import resolve

    photos = sorted(str(p) for p in (corpus / "photos").glob("*.png"))
    manifest_csv = tmp_path / "m.csv"
    pd.DataFrame({"path": [Path(photos[0]).name, photos[1]], "subject": ["a", "b"], "take": [1, 2]}).to_csv(
        manifest_csv, index=False
    )
    shutil.copyfile(photos[0], tmp_path / Path(photos[0]).name)  # relative manifest paths: from its folder
    tasks, errors, meta = resolve(
        [
            str(corpus / "photos" / "*.png"),
            str(corpus / "audio"),
            str(manifest_csv),
            photos[2],
            str(tmp_path / "nothing_*.jpg"),
            str(tmp_path / "missing.png"),
        ]
    )
    paths = [t.path for t in tasks]
    audio = sorted(str(p) for p in (corpus / "audio").glob("*.flac"))
    assert paths == photos + audio + [str(tmp_path / Path(photos[0]).name)]  # photos[1], photos[2]: once
    assert tasks[-1].metadata == (("subject", "a"), ("take", 1))
    assert meta.names == ["subject", "take"]
    assert [e[1] for e in errors] == [
        f"{tmp_path / 'nothing_*.jpg'}: no file matches this pattern",
        f"{tmp_path / 'missing.png'}: no such file or folder",
    ]


def test_changed_bytes_are_redone_and_touched_files_skipped(corpus, tmp_path):
    photos = sorted((corpus / "photos").glob("*.png"))
    work = tmp_path / "in"
    work.mkdir()
    for p in photos[:3]:
        shutil.copyfile(p, work / p.name)
    options = Options().replace(crop_mode="face", mesh="off")
    out = tmp_path / "out"
    first = run_batch([str(work)], out, options, workers=2)
    assert first.done == 3
    before = pd.read_parquet(out / "faces")
    os.utime(work / photos[0].name)  # same bytes, new time: still done
    shutil.copyfile(photos[5], work / photos[1].name)  # new bytes under an old name: redone
    second = run_batch([str(work)], out, options, workers=2)
    assert (second.skipped, second.done) == (2, 1)
    after = pd.read_parquet(out / "faces")
    assert len(after) == len(before) == 3 and after["source"].is_unique  # replaced, not added
    changed = str(work / photos[1].name)
    assert (
        after.set_index("source").loc[changed, "prob_happiness"]
        != before.set_index("source").loc[changed, "prob_happiness"]
    )
    unchanged = after[after["source"] != changed].reset_index(drop=True)
    pd.testing.assert_frame_equal(unchanged, before[before["source"] != changed].reset_index(drop=True))
