"""End-to-end speed and memory of the video pipeline on a 640x480 one-face video.

The test video is built in a temporary folder from the real clip
``../shared/media/videos/smile_pyfeat_single_face.mp4`` (neutral → smile → neutral): its frames
are rescaled to 640x480, played forward and backward, encoded once with H.264 and that loop is
repeated (packet copy) to the requested length. The whole pipeline then runs on it, as
``affectlens analyze`` does: decode (background thread) → detect on a downscaled frame → align
→ classify (one call per frame) in a pool of worker threads → track → smooth → records.

Prints (and with ``--write`` writes to benchmarks/results/video_speed.json): analysed frames per second (wall
clock), CPU seconds per frame (all threads), and the resident memory (RSS) at the start, at the
end and its slope over the run (least squares over samples taken every 1 % of the frames,
after the first 10 %; flat means no leak). The machine's load average is recorded too: fps
measured on a busy machine is lower than on an idle one.

    python benchmarks/video_speed.py [--minutes 10] [--detect-size PX] [--workers N] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402

CLIP = ROOT.parent / "shared" / "media" / "videos" / "smile_pyfeat_single_face.mp4"
W, H, FPS = 640, 480, 30


def build_video(path: Path, minutes: float) -> int:
    """Write the looped 640x480 clip to ``path``; returns its number of frames."""
    import av

    with av.open(str(CLIP)) as src:
        frames = [
            np.asarray(Image.fromarray(f.to_ndarray(format="rgb24")).resize((W, H), Image.BILINEAR))
            for f in src.decode(video=0)
        ]
    frames = frames + frames[-2:0:-1]  # forward then backward: a seamless loop
    loop = path.with_name("loop.mp4")
    with av.open(str(loop), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = W, H, "yuv420p"
        s.options = {"preset": "veryfast", "crf": "20", "g": str(len(frames))}
        for _i, rgb in enumerate(frames):
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


def rss_slope(samples: list[tuple[int, float, float]]) -> float:
    """Least-squares slope of RSS (MB) over frames, after the first 10 % (warm-up), in MB per
    1000 frames."""
    pts = samples[len(samples) // 10 :]
    if len(pts) < 3:
        return float("nan")
    frames = np.array([p[0] for p in pts], np.float64)
    mb = np.array([p[2] for p in pts], np.float64)
    return float(np.polyfit(frames, mb, 1)[0] * 1000)


def stage_costs(path: Path, frames: int = 150, sizes=(320, 640)) -> dict:
    """CPU milliseconds per frame of each stage, one thread, on the first ``frames`` frames."""
    import av

    from affectlens.detect import create_detector
    from affectlens.options import Options
    from affectlens.pipeline.image import image_analyzer
    from affectlens.pipeline.video import VIDEO_CLASSIFIER_THREADS

    an = image_analyzer(Options(), VIDEO_CLASSIFIER_THREADS)
    with av.open(str(path)) as c:
        t = time.thread_time()
        rgbs = [f.to_ndarray(format="rgb24") for f, _ in zip(c.decode(video=0), range(frames))]
        out = {"decode": (time.thread_time() - t) / len(rgbs)}
    for size in sizes:
        det = create_detector("yunet", max_side=size, threads=1)
        t = time.thread_time()
        faces = [det.detect(rgb) for rgb in rgbs]
        out[f"detect_{size}"] = (time.thread_time() - t) / len(rgbs)
    t = time.thread_time()
    crops = [an.align(rgb, f) for rgb, f in zip(rgbs, faces)]
    out["align"] = (time.thread_time() - t) / len(rgbs)
    t = time.thread_time()
    for c in crops:
        an.classify(c)
    out["classify"] = (time.thread_time() - t) / len(rgbs)
    return {k: round(v * 1000, 2) for k, v in out.items()}


def detector_growth(calls: int = 200) -> dict:
    """RSS growth in KB per detection call of our detector and, when the yuface wheel is
    installed (``[bench]``), of its own ``yuface.detect`` (320x240 frame of the real clip, after
    a warm-up)."""
    import av

    from affectlens.detect.yunet import YuNetOnnx

    with av.open(str(CLIP)) as c:
        rgb = next(c.decode(video=0)).to_ndarray(format="rgb24")
    rgb = np.ascontiguousarray(np.asarray(Image.fromarray(rgb).resize((320, 240), Image.BILINEAR)))
    net = YuNetOnnx(threads=1)
    calls_by_name = {"affectlens detector": lambda: net.rows(rgb, 0.7)}
    try:
        from yuface.yuface import detect as wheel_detect

        bgr = np.ascontiguousarray(rgb[:, :, ::-1])
        calls_by_name["yuface.detect"] = lambda: wheel_detect(bgr)
    except ImportError:
        pass
    out = {}
    for name, fn in calls_by_name.items():
        for _ in range(20):
            fn()
        before = rss_mb()
        for _ in range(calls):
            fn()
        out[name] = round((rss_mb() - before) * 1024 / calls, 2)
    return out


def detect_size_agreement(clips=("smile_pyfeat_single_face.mp4", "multiface_whitehouse_hamilton_short.mp4")) -> dict:
    """How the default (downscaled) detection compares with detection at 640 px on real clips:
    the share of the faces found at 640 px that are also found (box IoU > 0.5), and of those
    the share whose raw top expression is the same."""
    import affectlens
    from affectlens.detect.base import iou_matrix
    from affectlens.pipeline.video import auto_detect_size

    out = {}
    for clip in clips:
        path = CLIP.parent / clip
        small = list(affectlens.analyze_video_iter(path))
        big = list(affectlens.analyze_video_iter(path, detect_size=640))
        found = same = total = 0
        for a, b in zip(small, big):
            total += len(b.faces)
            if not a.faces or not b.faces:
                continue
            iou = iou_matrix(np.array([f.face.box for f in b.faces]), np.array([f.face.box for f in a.faces]))
            for i, j in enumerate(iou.argmax(axis=1)):
                if iou[i, j] > 0.5:
                    found += 1
                    same += b.faces[i].raw.top == a.faces[j].raw.top
        out[clip] = {
            "faces_at_640": total,
            "found": round(found / max(total, 1), 3),
            "same_top_expression": round(same / max(found, 1), 3),
            "detect_size": auto_detect_size(small[0].width, small[0].height),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the test video (default 10)")
    ap.add_argument(
        "--detect-size",
        type=int,
        default=None,
        help="detector input size, longest side (default: the video default, half the frame: 320)",
    )
    ap.add_argument("--workers", type=int, default=None, help="analysis threads (default: one per core, at most 4)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the built video at this path")
    ap.add_argument(
        "--write", action="store_true", help="write benchmarks/results/video_speed.json (default: print only)"
    )
    args = ap.parse_args()

    from affectlens.export.video import TrackSummarizer, frame_records
    from affectlens.pipeline.video import VideoRun

    with tempfile.TemporaryDirectory() as tmp:
        path = args.keep or Path(tmp) / "bench_640x480.mp4"
        t0 = time.perf_counter()
        total = build_video(path, args.minutes)
        print(
            f"built {path.name}: {total} frames 640x480 at {FPS} fps ({total / FPS / 60:.1f} min) "
            f"in {time.perf_counter() - t0:.0f} s"
        )
        agreement = detect_size_agreement()
        for clip, a in agreement.items():
            print(
                f"{clip}: detection at {a['detect_size']} px finds {100 * a['found']:.1f} % of the "
                f"{a['faces_at_640']} faces found at 640 px, same top expression for {100 * a['same_top_expression']:.1f} %"
            )
        growth = detector_growth()
        print("RSS growth per detector call (KB): " + ", ".join(f"{k} {v}" for k, v in growth.items()))
        stages = stage_costs(path)
        print(
            "CPU ms per frame by stage (one thread, first 150 frames): "
            + ", ".join(f"{k} {v}" for k, v in stages.items())
        )
        kw = {k: v for k, v in (("detect_size", args.detect_size), ("workers", args.workers)) if v}
        from affectlens.options import Options

        run = VideoRun(path, Options().replace(**kw))
        records, acc, samples, every = 0, TrackSummarizer(), [], max(1, total // 100)
        load0 = os.getloadavg()[0]
        rss0 = rss_mb()
        cpu0, t0 = time.process_time(), time.perf_counter()
        n = 0
        for n, r in enumerate(run, start=1):
            records += len(frame_records(r))
            acc.add(r)
            if n % every == 0:
                samples.append((n, round(time.perf_counter() - t0, 2), round(rss_mb(), 2)))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
        load1 = os.getloadavg()[0]
    rss1 = rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    tracks = acc.summaries()
    fps = n / wall
    slope = rss_slope(samples)
    print(
        f"{len(os.sched_getaffinity(0))} CPU cores (load average {load0:.1f} at the start, {load1:.1f} at the end), "
        f"{run.workers} analysis worker(s), detector input {run.detect_size} px"
    )
    print(f"{'frames':>8}{'seconds':>9}{'RSS MB':>9}")
    for f, sec, m in samples[:: max(1, len(samples) // 10)]:
        print(f"{f:>8}{sec:>9.1f}{m:>9.1f}")
    print(
        f"analysed {n} frames in {wall:.1f} s: {fps:.1f} frames/s end to end, {1000 * cpu / max(n, 1):.1f} ms CPU "
        f"per frame ({records} records, {len(tracks)} track(s))"
    )
    print(
        f"RSS start {rss0:.0f} MB, end {rss1:.0f} MB, peak {peak:.0f} MB, slope after warm-up "
        f"{slope:+.3f} MB per 1000 frames"
    )
    if not args.write:
        return
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "video_speed.json").write_text(
        json.dumps(
            {
                "frames": n,
                "seconds": round(wall, 2),
                "fps": round(fps, 1),
                "cpu_ms_per_frame": round(1000 * cpu / max(n, 1), 2),
                "cpu_cores": len(os.sched_getaffinity(0)),
                "machine": machine(),
                "load_average_start": round(load0, 2),
                "load_average_end": round(load1, 2),
                "workers": run.workers,
                "detect_size": run.detect_size,
                "size": f"{W}x{H}",
                "minutes": args.minutes,
                "records": records,
                "tracks": len(tracks),
                "rss_start_mb": round(rss0, 1),
                "rss_end_mb": round(rss1, 1),
                "rss_peak_mb": round(peak, 1),
                "rss_slope_mb_per_1000_frames": round(slope, 4),
                "stage_cpu_ms_one_thread": stages,
                "rss_kb_per_detector_call": growth,
                "default_vs_640_detection": agreement,
                "rss_samples": samples,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {out / 'video_speed.json'}")


if __name__ == "__main__":
    main()
