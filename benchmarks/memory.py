"""Peak resident memory of long inputs: a long audio file (default 1 hour) and a long video
(default 10 minutes).

The audio is assembled from real RAVDESS speech clips (../shared/datasets/ravdess) separated by
1 s of silence, repeated to the requested length, and written as a 16 kHz 16-bit mono WAV in a
temporary folder (written in chunks, never held whole). Each measurement runs
``analyze_audio_results`` in a fresh Python process and reports that process's peak resident
set size (``resource.getrusage(RUSAGE_SELF).ru_maxrss``), its wall time and the number of
segments, so the numbers are the analysis alone.

The video is 640x480 at 30 fps (H.264), a 640x480 window panning slowly over the real astronaut
photo (../shared/media/photos/astronaut.png, scaled to 1024x1024; the face stays in view), also
written frame by frame in the temporary folder. It is measured as users run it:
``affectlens analyze VIDEO --out frames.csv --quiet`` (every frame, default options) in a fresh
process, with that process's peak RSS, wall time and the number of frame rows written.

``--src [LABEL=]PATH`` measures another source tree (e.g. ``before=/tmp/old/src``, from
``git archive <commit> src``) with the same files, for before/after comparisons.

    python benchmarks/memory.py [--minutes 60] [--video-minutes 10] [--src [LABEL=]PATH ...] [--write]

``--minutes 0`` or ``--video-minutes 0`` skips that input.

Prints a table; with ``--write`` also writes benchmarks/results/memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AFFECTLENS_SHARED", ROOT.parent / "shared"))
RAVDESS = SHARED / "datasets" / "ravdess"
RATE = 16000

#: The child's own peak resident memory: VmHWM, which exec resets (ru_maxrss keeps the RSS the
#: forked child inherited from its parent, so a big parent would make every child look big).
PEAK = """
def peak_rss_mb():
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
    except (OSError, StopIteration):  # not Linux
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
"""

#: Runs in the child process: analyse, then print peak RSS (MB), seconds and segment count as JSON.
CHILD = """
import json, resource, sys, time
t0 = time.perf_counter()
try:
    from affectlens.api import analyze_audio as analyze_audio_results
except ImportError:  # source trees before the job layer
    from affectlens.pipeline.speech import analyze_audio_results
results = analyze_audio_results(sys.argv[1])
seconds = time.perf_counter() - t0
peak_mb = peak_rss_mb()
nan = sum(1 for r in results if r.voice is not None and any(p != p for p in r.voice.probs))
print(json.dumps({"peak_mb": round(peak_mb, 1), "seconds": round(seconds, 1), "segments": len(results),
                  "nan_segments": nan}))
"""


#: Runs in the child process: ``affectlens analyze VIDEO --out CSV --quiet``, then the same JSON.
CHILD_VIDEO = """
import json, resource, sys, time
t0 = time.perf_counter()
from affectlens.cli import main
code = main(["analyze", sys.argv[1], "--out", sys.argv[2], "--quiet"])
seconds = time.perf_counter() - t0
peak_mb = peak_rss_mb()
with open(sys.argv[2], encoding="utf-8") as f:
    rows = sum(1 for _ in f) - 1
print(json.dumps({"peak_mb": round(peak_mb, 1), "seconds": round(seconds, 1), "frames": rows, "exit": code}))
"""
PHOTO = SHARED / "media" / "photos" / "astronaut.png"
FPS, WIDTH, HEIGHT = 30, 640, 480


def speech_clips(limit: int = 48) -> list[np.ndarray]:
    """Real RAVDESS utterances (16 kHz mono float32), one per file, from several actors."""
    from affectlens.io.audio import load_audio

    files = sorted(RAVDESS.glob("Actor_*/*.flac"))
    if not files:
        raise FileNotFoundError(f"no RAVDESS clips under {RAVDESS} (see ../shared/datasets/README.md)")
    step = max(1, len(files) // limit)
    return [load_audio(f).samples for f in files[::step][:limit]]


def write_long_wav(path: Path, minutes: float) -> float:
    """A WAV of ``minutes`` of speech clips and 1 s pauses, written chunk by chunk; its seconds."""
    import av

    clips, pause = speech_clips(), np.zeros(RATE, np.float32)
    total, target, i = 0, int(minutes * 60 * RATE), 0
    with av.open(str(path), "w") as out:
        stream = out.add_stream("pcm_s16le", rate=RATE, layout="mono")
        while total < target:
            chunk = np.concatenate([clips[i % len(clips)], pause])[: target - total]
            frame = av.AudioFrame.from_ndarray(
                (chunk * 32767).astype(np.int16).reshape(1, -1), format="s16", layout="mono"
            )
            frame.sample_rate = RATE
            for pkt in stream.encode(frame):
                out.mux(pkt)
            total += len(chunk)
            i += 1
        for pkt in stream.encode(None):
            out.mux(pkt)
    return total / RATE


def pan_offsets(i: int, room_x: int, room_y: int) -> tuple[int, int]:
    """Top-left corner of the window at frame ``i``: a slow Lissajous pan within the room."""
    t = i / FPS
    x = room_x / 2 * (1 + np.sin(2 * np.pi * t / 20))
    y = room_y / 2 * (1 + np.sin(2 * np.pi * t / 13))
    return int(x), int(y)


def write_pan_video(path: Path, minutes: float) -> int:
    """A ``minutes`` long 640x480 30 fps H.264 video panning over the astronaut photo; its frames."""
    import av
    from PIL import Image

    if not PHOTO.exists():
        raise FileNotFoundError(f"no photo {PHOTO} (see ../shared/media/README.md)")
    big = np.asarray(Image.open(PHOTO).convert("RGB").resize((1024, 1024)))
    # the face (178..267 x 63..175 in the 512 px photo) stays inside every window
    room_x, room_y = 356, 126
    frames = int(minutes * 60 * FPS)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for i in range(frames):
            x, y = pan_offsets(i, room_x, room_y)
            crop = np.ascontiguousarray(big[y : y + HEIGHT, x : x + WIDTH])
            for pkt in stream.encode(av.VideoFrame.from_ndarray(crop, format="rgb24")):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)
    return frames


def measure(src: Path, audio: Path) -> dict:
    """Peak RSS, time and segments of one fresh process analysing ``audio`` with the code in ``src``."""
    return _child(src, [PEAK + CHILD, str(audio)])


def measure_video(src: Path, video: Path, out_csv: Path) -> dict:
    """Peak RSS, time and frame rows of one fresh ``affectlens analyze`` process on ``video``."""
    return _child(src, [PEAK + CHILD_VIDEO, str(video), str(out_csv)])


def _child(src: Path, args: list[str]) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src))
    run = subprocess.run([sys.executable, "-c", *args], capture_output=True, text=True, env=env)
    if run.returncode:
        tail = run.stderr.strip().splitlines()[-1:] or ["(no output)"]
        return {"error": tail[0]}
    return json.loads(run.stdout.strip().splitlines()[-1])


def _source(spec: str) -> tuple[str, Path]:
    """``LABEL=PATH`` or ``PATH`` → (label, resolved path)."""
    label, _, path = spec.rpartition("=")
    return (label or path), Path(path).resolve()


def audio_rows(sources, folder: Path, minutes: float) -> list[dict]:
    audio = folder / f"speech_{minutes:g}min.wav"
    seconds = write_long_wav(audio, minutes)
    size_mb = audio.stat().st_size / 2**20
    rows = [
        {"src": label, "audio_s": round(seconds, 1), "file_mb": round(size_mb, 1), **measure(src, audio)}
        for label, src in sources
    ]
    print(f"{'source tree':<40}{'audio':>9}{'file MB':>9}{'peak RSS MB':>13}{'seconds':>9}{'segments':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['src'][-40:]:<40}  error: {r['error']}")
            continue
        print(
            f"{r['src'][-40:]:<40}{r['audio_s'] / 60:>8.1f}m{r['file_mb']:>9.1f}{r['peak_mb']:>13.1f}"
            f"{r['seconds']:>9.1f}{r['segments']:>10}"
        )
    return rows


def video_rows(sources, folder: Path, minutes: float) -> list[dict]:
    video = folder / f"pan_{minutes:g}min.mp4"
    frames = write_pan_video(video, minutes)
    size_mb = video.stat().st_size / 2**20
    rows = [
        {
            "src": label,
            "video_frames": frames,
            "file_mb": round(size_mb, 1),
            **measure_video(src, video, folder / f"frames_{i}.csv"),
        }
        for i, (label, src) in enumerate(sources)
    ]
    print(f"{'source tree':<40}{'video':>9}{'file MB':>9}{'peak RSS MB':>13}{'seconds':>9}{'rows':>10}")
    for r in rows:
        if "error" in r:
            print(f"{r['src'][-40:]:<40}  error: {r['error']}")
            continue
        print(
            f"{r['src'][-40:]:<40}{r['video_frames'] / FPS / 60:>8.1f}m{r['file_mb']:>9.1f}{r['peak_mb']:>13.1f}"
            f"{r['seconds']:>9.1f}{r['frames']:>10}"
        )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=60.0, help="length of the synthetic audio (default 60; 0 skips)")
    ap.add_argument(
        "--video-minutes", type=float, default=10.0, help="length of the synthetic video (default 10; 0 skips)"
    )
    ap.add_argument(
        "--src",
        action="append",
        default=None,
        metavar="[LABEL=]PATH",
        help="source tree(s) to measure (default: this checkout's src); repeatable",
    )
    ap.add_argument("--write", action="store_true", help="also write benchmarks/results/memory.json")
    args = ap.parse_args()
    sources = [_source(spec) for spec in (args.src or [f"this checkout={ROOT / 'src'}"])]
    result = {"audio_minutes": args.minutes, "video_minutes": args.video_minutes}
    with tempfile.TemporaryDirectory() as tmp:
        if args.minutes > 0:
            result["runs"] = audio_rows(sources, Path(tmp), args.minutes)
        if args.video_minutes > 0:
            result["video_runs"] = video_rows(sources, Path(tmp), args.video_minutes)
    if args.write:
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "memory.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
