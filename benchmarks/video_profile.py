"""Per-stage CPU time per frame of the video pipeline, every field on (mesh, AUs, uncertainty).

Builds the 640x480 one-face test video of ``benchmarks/video_speed.py`` (the real clip
``smile_pyfeat_single_face.mp4`` rescaled and looped) and runs each stage of one frame in turn
in a single thread, as ``VideoSession`` does, timing each with the thread's CPU clock:

decode (FFmpeg, to its native YUV frame), colour conversion (YUV → RGB array), detect (YuNet on
the downscaled frame, incl. its resize and BGR copy), align, classify (expression model, mirror
averaging; the classifier runs once per frame on the faces, their mirrors and the occlusion
check's eyes-only and mouth-only copies, so this includes the occlusion check's model passes),
occlusion checks (the rest of the ``occluded`` reason's signals: masked copies, region textures,
energies), mesh (face mesh from the previous frame's mesh or the detector's box, plus placing
followed faces), AUs (pose, action units, rationale), tracking (shot-cut
histogram, appearance descriptors, tracker, smoother, assessment), and Python overhead (the
rest of one ``VideoSession`` frame: the whole frame run as the pipeline runs it, minus the
stages). ``--detect-every N`` profiles the mesh-tracking path instead (the detector runs every
N frames and the mesh follows the faces in between; see ``affectlens.pipeline.video``).

    python benchmarks/video_profile.py [--frames 300] [--detect-every N] [--video CLIP] [--json out.json]

``--video`` profiles a real clip instead (e.g. the 1080p pedestrians clip in
``../shared/media/videos``), from its first frame.

Numbers are CPU milliseconds of one thread, so they add up to the CPU cost of a frame; on a
busy machine they rise (cache and frequency sharing): the load average is printed beside them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.video_speed import FPS, build_video  # noqa: E402

STAGES = ("decode", "colour", "detect", "align", "classify", "occlusion", "mesh", "aus", "tracking", "overhead")


class Clock:
    """Sums thread CPU time per stage name; a timed call inside another counts for its own
    stage only (its time is taken off the outer one)."""

    def __init__(self):
        self.ms: dict[str, float] = defaultdict(float)
        self._inner: list[float] = []

    def time(self, name: str, fn, *args, **kw):
        self._inner.append(0.0)
        t = time.thread_time()
        try:
            return fn(*args, **kw)
        finally:
            spent = (time.thread_time() - t) * 1000
            self.ms[name] += spent - self._inner.pop()
            if self._inner:
                self._inner[-1] += spent


def patch_stages(clock: Clock, session) -> None:
    """Wrap the stage functions the session calls so that each call is timed under its stage."""
    import affectlens.models.uncertainty as uncertainty
    import affectlens.pipeline.follow as follow
    import affectlens.pipeline.video as video

    def wrap(owner, attr, stage):
        fn = getattr(owner, attr)
        setattr(owner, attr, lambda *a, **k: clock.time(stage, fn, *a, **k))

    an = session.analyzer
    wrap(session.detector, "detect", "detect")
    wrap(an, "align", "align")
    # one classifier call per frame: the faces, their mirrors and the occlusion check's
    # eyes-only and mouth-only copies in one batch; "occlusion" is the rest of that check
    # (making the copies, region textures, energies)
    wrap(video, "logits_and_signals", "occlusion")
    wrap(an.model, "forward", "classify")
    wrap(an.model, "preprocess", "classify")
    wrap(uncertainty, "region_texture", "occlusion")
    wrap(an.face_mesh, "run", "mesh")
    wrap(an.face_mesh, "follow", "mesh")
    wrap(follow, "place", "mesh")
    wrap(follow, "anchor", "mesh")
    wrap(video, "describe_face", "aus")
    for name in ("appearance", "box_histogram"):
        wrap(video, name, "tracking")
    wrap(session.tracker, "update", "tracking")
    wrap(session.smoother, "update", "tracking")
    wrap(an, "assess", "tracking")
    if session.cuts:
        wrap(session.cuts, "observe", "tracking")
        wrap(video.ShotCutDetector, "histogram", "tracking")


WARMUP = 10  # frames run before timing starts (first calls load libraries, fill caches)


def profile(path: Path, frames: int, detect_every: int) -> dict:
    import av

    from affectlens.options import Options
    from affectlens.pipeline.video import VideoRun

    opts = Options().replace(mesh="on", workers=1, **({"detect_every": detect_every} if detect_every else {}))
    run = VideoRun(path, opts)
    run.reader.close()
    session = run.session
    clock = Clock()
    patch_stages(clock, session)
    n, total = 0, 0.0
    with av.open(str(path)) as c:
        for i, frame in zip(range(WARMUP), c.decode(video=0)):
            session.process(frame.to_ndarray(format="rgb24"), -1000.0 + i, -1)
        clock.ms.clear()
        session.reset()
        c.seek(0)
        stream = c.streams.video[0]
        # decoding in this thread (the reader lets FFmpeg use its own threads, whose CPU time
        # thread_time would not see)
        packets = c.demux(stream)
        for packet in packets:
            for frame in clock.time("decode", packet.decode):
                if n >= frames:
                    break
                rgb = clock.time("colour", frame.to_ndarray, format="rgb24")
                t = time.thread_time()
                session.process(rgb, n * 1000.0 / FPS, n)
                total += (time.thread_time() - t) * 1000
                n += 1
            if n >= frames:
                break
    staged = sum(v for k, v in clock.ms.items() if k not in ("decode", "colour"))
    clock.ms["overhead"] = total - staged
    per = {k: round(clock.ms.get(k, 0.0) / n, 2) for k in STAGES}
    return {"frames": n, "ms_per_frame": per, "total_ms_per_frame": round(sum(per.values()), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=300, help="frames to profile (default 300)")
    ap.add_argument(
        "--detect-every", type=int, default=None, help="the video option detect_every (default: its default)"
    )
    ap.add_argument("--video", type=Path, default=None, help="profile this clip instead of the built one")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = args.video or Path(tmp) / "profile_640x480.mp4"
        if args.video is None:
            build_video(path, minutes=max(args.frames / FPS / 60, 0.01))
        elif not path.is_file():
            raise SystemExit(f"{path}: no such video")
        load0 = os.getloadavg()[0]
        out = profile(path, args.frames, args.detect_every)
        load1 = os.getloadavg()[0]
    what = path.name if args.video else "a 640x480 one-face video"
    out.update(load_average_start=round(load0, 2), load_average_end=round(load1, 2), video=what)
    out["detect_every"] = args.detect_every
    print(f"CPU ms per frame, one thread, {out['frames']} frames of {what}, every field on")
    print(f"(load average {load0:.2f} at the start, {load1:.2f} at the end)")
    for k, v in out["ms_per_frame"].items():
        print(f"  {k:<10}{v:>8.2f}")
    print(f"  {'total':<10}{out['total_ms_per_frame']:>8.2f}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
