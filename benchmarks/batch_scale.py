"""Scaling of ``affectlens batch`` on this machine: workers, engines and per-file overhead.

Builds in a temporary folder (benchmarks/batch_corpus.py) ``--photos`` FER+ test photos and
``--videos`` copies of the real 3-second GRID clip, then runs ``affectlens batch`` as a user
would (a subprocess, a fresh output folder each time) and measures wall-clock time and the CPU
time of the run's processes:

- photos with the local engine at 1 and 2 workers (the ratio is the scaling), with Ray at 2
  workers (its overhead against the local pool), and the same photos analysed in one process by
  ``Runner.run`` without the batch layer: (batch at 1 worker - in-process) / photos is the
  batch layer's per-file overhead (task hand-off, content hash, Parquet part, manifest row);
- the rerun of the finished photo run (every input skipped): the cost of resuming;
- the videos at 1 and 2 workers: seconds of video per wall second, and per CPU second (the
  per-core rate, less sensitive to other load on the machine).

The photos are FER+ face crops, so they run with ``crop_mode = "face"`` (no detector on a
48x48 image); the videos run with the default options. The load average is printed beside the
numbers: on a machine shared with other work, wall-clock rates are lower than on an idle one.

    python benchmarks/batch_scale.py [--photos 3000] [--videos 8] [--no-ray] [--write]

``--write`` saves benchmarks/results/batch_scale.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))
import batch_corpus  # noqa: E402

GRID = "talking_grid_s_swwp2s.mpg"


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src")] + [p for p in [env.get("PYTHONPATH")] if p])
    return env


def run_batch_cli(inputs: list[str], out: Path, config: Path, workers: int, engine: str = "local") -> dict:
    """One ``affectlens batch`` run: wall seconds, CPU seconds of its processes, its report."""
    cmd = [
        sys.executable,
        "-m",
        "affectlens.cli",
        "batch",
        *inputs,
        "--out",
        str(out),
        "--config",
        str(config),
        "--workers",
        str(workers),
        "--engine",
        engine,
        "--progress",
        "json",
    ]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=_env())
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):
        raise RuntimeError(f"batch run failed ({p.returncode}): {p.stderr[-2000:]}")
    report = json.loads(p.stdout.splitlines()[-1])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "engine": engine,
        "workers": workers,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 2),
        "done": report["done"],
        "skipped": report["skipped"],
        "failed": report["failed"],
        "frames": report["frames"],
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def in_process(photos: list[str], config: Path) -> dict:
    """The same photos through one Runner in this process (no batch layer), models loaded first."""
    from affectlens.jobs import Runner
    from affectlens.options import Options

    runner = Runner(Options.load(config))
    list(runner.run(photos[:1]))
    t0, c0 = time.perf_counter(), time.process_time()
    n = sum(1 for _ in runner.run(photos))
    return {
        "wall_s": round(time.perf_counter() - t0, 2),
        "cpu_s": round(time.process_time() - c0, 2),
        "results": n,
        "load": [round(x, 2) for x in os.getloadavg()],
    }


def measure(args) -> dict:
    from affectlens.options import Options

    tmp = Path(tempfile.mkdtemp(prefix="batch_scale_"))
    groups = batch_corpus.build(
        tmp / "corpus", photos=args.photos, videos=(GRID,), copies=args.videos, audio=0, corrupt=False
    )
    photo_cfg = Options().replace(crop_mode="face").save(tmp / "photos.toml")
    video_cfg = Options().save(tmp / "videos.toml")
    photos_dir = [str(tmp / "corpus" / "photos")]
    videos_dir = [str(tmp / "corpus" / "videos")]
    res: dict = {
        "photos": len(groups["photos"]),
        "videos": len(groups["videos"]),
        "video_s_each": 3.0,
        "cores": os.cpu_count(),
        "load_start": [round(x, 2) for x in os.getloadavg()],
    }
    res["in_process"] = in_process([str(p) for p in groups["photos"]], photo_cfg)
    res["photos_1"] = run_batch_cli(photos_dir, tmp / "p1", photo_cfg, 1)
    res["photos_rerun"] = run_batch_cli(photos_dir, tmp / "p1", photo_cfg, 1)
    res["photos_2"] = run_batch_cli(photos_dir, tmp / "p2", photo_cfg, 2)
    if args.ray:
        res["photos_2_ray"] = run_batch_cli(photos_dir, tmp / "pr", photo_cfg, 2, "ray")
    res["videos_1"] = run_batch_cli(videos_dir, tmp / "v1", video_cfg, 1)
    res["videos_2"] = run_batch_cli(videos_dir, tmp / "v2", video_cfg, 2)
    res["load_end"] = [round(x, 2) for x in os.getloadavg()]
    return res


def summarise(r: dict) -> dict:
    n = r["photos"]
    video_s = r["videos"] * r["video_s_each"]
    s = {
        "photos_per_s_1_worker": round(n / r["photos_1"]["wall_s"], 1),
        "photos_per_s_2_workers": round(n / r["photos_2"]["wall_s"], 1),
        "speedup_2_vs_1": round(r["photos_1"]["wall_s"] / r["photos_2"]["wall_s"], 2),
        "in_process_ms_per_photo": round(1000 * r["in_process"]["wall_s"] / n, 1),
        "batch_ms_per_photo_1_worker": round(1000 * r["photos_1"]["wall_s"] / n, 1),
        "overhead_ms_per_file": round(1000 * (r["photos_1"]["wall_s"] - r["in_process"]["wall_s"]) / n, 1),
        "rerun_ms_per_skipped_file": round(1000 * r["photos_rerun"]["wall_s"] / n, 2),
        "video_s_per_wall_s_1_worker": round(video_s / r["videos_1"]["wall_s"], 3),
        "video_s_per_wall_s_2_workers": round(video_s / r["videos_2"]["wall_s"], 3),
        "video_speedup_2_vs_1": round(r["videos_1"]["wall_s"] / r["videos_2"]["wall_s"], 2),
        "video_s_per_cpu_s": round(video_s / r["videos_1"]["cpu_s"], 3),
    }
    if "photos_2_ray" in r:
        s["photos_per_s_2_workers_ray"] = round(n / r["photos_2_ray"]["wall_s"], 1)
        s["ray_vs_local_wall_2_workers"] = round(r["photos_2_ray"]["wall_s"] / r["photos_2"]["wall_s"], 2)
    return s


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=3000)
    ap.add_argument("--videos", type=int, default=8, help="copies of the 3-second GRID clip")
    ap.add_argument("--no-ray", dest="ray", action="store_false")
    ap.add_argument("--write", action="store_true", help="save benchmarks/results/batch_scale.json")
    args = ap.parse_args(argv)
    if args.ray:
        try:
            import ray  # noqa: F401
        except ImportError:
            print(
                "ray is not installed: measuring the local engine only (pip install 'affectlens[ray]')", file=sys.stderr
            )
            args.ray = False
    raw = measure(args)
    summary = summarise(raw)
    print(
        f"batch scaling: {raw['photos']} photos, {raw['videos']} x 3 s videos, {raw['cores']} cores; "
        f"load average {raw['load_start']} at start, {raw['load_end']} at end"
    )
    for name in [k for k in raw if isinstance(raw[k], dict)]:
        print(f"  {name:14s} {json.dumps(raw[name])}")
    for k, v in summary.items():
        print(f"  {k:32s} {v}")
    if args.write:
        path = ROOT / "benchmarks" / "results" / "batch_scale.json"
        path.write_text(
            json.dumps({"summary": summary, "runs": raw, "args": vars(args)}, indent=1) + "\n", encoding="utf-8"
        )
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
