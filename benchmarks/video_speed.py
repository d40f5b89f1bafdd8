"""End-to-end speed and memory of the video pipeline on a 640x480 one-face video.

The test video is built in a temporary folder from the real clip
``../shared/media/videos/smile_pyfeat_single_face.mp4`` (neutral → smile → neutral): its frames
are rescaled to 640x480, played forward and backward, encoded once with H.264 and that loop is
repeated (packet copy) to the requested length. The whole pipeline then runs on it, as
``affectlens analyze`` does: decode (background thread) → detect → align → classify → track →
smooth → records. Prints analysed frames per second and the resident memory over the run
(sampled every 10 % of the frames; flat means no leak), and writes
benchmarks/results/video_speed.json.

    python benchmarks/video_speed.py [--minutes 10] [--detect-max-side 640] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
CLIP = ROOT.parent / "shared" / "media" / "videos" / "smile_pyfeat_single_face.mp4"
W, H, FPS = 640, 480, 30


def build_video(path: Path, minutes: float) -> int:
    """Write the looped 640x480 clip to ``path``; returns its number of frames."""
    import av

    with av.open(str(CLIP)) as src:
        frames = [np.asarray(Image.fromarray(f.to_ndarray(format="rgb24")).resize((W, H), Image.BILINEAR))
                  for f in src.decode(video=0)]
    frames = frames + frames[-2:0:-1]  # forward then backward: a seamless loop
    loop = path.with_name("loop.mp4")
    with av.open(str(loop), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "20", "g": str(len(frames))}
        for i, rgb in enumerate(frames):
            out.mux(s.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")))
        out.mux(s.encode(None))
    repeats = max(1, round(minutes * 60 * FPS / len(frames)))
    with av.open(str(loop)) as src, av.open(str(path), "w") as out:
        vin = src.streams.video[0]
        vout = out.add_stream_from_template(vin)
        packets = [p for p in src.demux(vin) if p.size]
        span = round(len(frames) / FPS / vin.time_base)
        for r in range(repeats):
            for p in packets:
                q = av.Packet(bytes(p))
                q.pts, q.dts = p.pts + r * span, p.dts + r * span
                q.is_keyframe, q.time_base, q.stream = p.is_keyframe, vin.time_base, vout
                out.mux(q)
    loop.unlink()
    return repeats * len(frames)


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the test video (default 10)")
    ap.add_argument("--threads", type=int, default=None,
                    help="onnxruntime threads of the classifier (default: the video default, 1; the detector's "
                         "OpenMP uses all cores)")
    ap.add_argument("--detect-max-side", type=int, default=None, help="detector input size (default: the video default)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the built video at this path")
    args = ap.parse_args()

    import affectlens
    from affectlens.export.video import TrackSummarizer, frame_records

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench_640x480.mp4"
        t0 = time.perf_counter()
        total = build_video(path, args.minutes)
        print(f"built {path.name}: {total} frames 640x480 at {FPS} fps ({total / FPS / 60:.1f} min) "
              f"in {time.perf_counter() - t0:.0f} s")
        kw = {"threads": args.threads} if args.threads else {}
        if args.detect_max_side:
            kw["detect_max_side"] = args.detect_max_side
        records, acc, samples = 0, TrackSummarizer(), []
        rss0 = rss_mb()
        t0 = time.perf_counter()
        n = 0
        for n, r in enumerate(affectlens.analyze_video_iter(path, **kw), start=1):
            records += len(frame_records(r))
            acc.add(r)
            if n % max(1, total // 10) == 0:
                samples.append((n, round(time.perf_counter() - t0, 1), round(rss_mb(), 1)))
        wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracks = acc.summaries()
    fps = n / wall
    print(f"{os.cpu_count()} CPU cores, classifier threads {kw.get('threads', 1)}, "
          f"detector max side {kw.get('detect_max_side', 640)}")
    print(f"{'frames':>8}{'seconds':>9}{'RSS MB':>9}")
    for f, s, m in samples:
        print(f"{f:>8}{s:>9.1f}{m:>9.1f}")
    print(f"analysed {n} frames in {wall:.1f} s: {fps:.1f} frames/s end to end "
          f"({records} records, {len(tracks)} track(s))")
    print(f"RSS before the run {rss0:.0f} MB, peak {peak:.0f} MB, "
          f"growth from 10 % to 100 % of the run: {samples[-1][2] - samples[0][2]:+.1f} MB" if samples else "")
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "video_speed.json").write_text(json.dumps(
        {"frames": n, "seconds": round(wall, 2), "fps": round(fps, 1), "cpu_cores": os.cpu_count(), "classifier_threads": kw.get("threads", 1),
         "detect_max_side": kw.get("detect_max_side", 640), "size": f"{W}x{H}", "minutes": args.minutes,
         "rss_start_mb": round(rss0, 1), "rss_peak_mb": round(peak, 1), "rss_samples": samples,
         "tracks": len(tracks)}, indent=2) + "\n")


if __name__ == "__main__":
    main()
