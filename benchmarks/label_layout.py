"""Readable labels on real crowds: placement quality and cost of :mod:`affectlens.viz.layout`.

Prints (writes nothing):
- the Solvay photo (29 faces): labels displaced from their face, labels on another face, label
  pairs overlapping, labels off the image, and the median time of layout and of the whole
  annotation, per detail level;
- the pedestrians and Hamilton clips at 10 fps: how often a track's label changes side between
  consecutive analysed frames with :class:`~affectlens.viz.video.SteadyLabels` and when each
  frame is placed afresh, and the layout time per frame.

    python benchmarks/label_layout.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np

import affectlens
from affectlens.io.image import load_image
from affectlens.viz.annotate import annotate, layout
from affectlens.viz.video import SteadyLabels

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
CLIPS = ("multiface_pedestrians_facenet.mp4", "multiface_whitehouse_hamilton_short.mp4")


def median_ms(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def _hit(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def photo_row(rgb: np.ndarray, result, detail: str, repeats: int) -> str:
    ps = layout(result, detail)
    boxes = [(x, y, x + w, y + h) for x, y, w, h in (fr.face.box for fr in result.faces)]
    on_face = sum(any(_hit(p.rect, b) for j, b in enumerate(boxes) if j != i) for i, p in enumerate(ps))
    pairs = sum(_hit(a.rect, b.rect) for i, a in enumerate(ps) for b in ps[i + 1 :])
    off = sum(p.rect[0] < 0 or p.rect[1] < 0 or p.rect[2] > result.width or p.rect[3] > result.height for p in ps)
    return (
        f"{detail:8s} {len(ps):5d} {sum(p.displaced for p in ps):9d} {on_face:7d} {pairs:8d} {off:4d} "
        f"{median_ms(lambda: layout(result, detail), repeats):9.0f} "
        f"{median_ms(lambda: annotate(rgb, result, detail), repeats):11.0f}"
    )


def video_row(clip: str, detail: str, results) -> str:
    steady, changes, fresh_changes, pairs = SteadyLabels(detail), 0, 0, 0
    last, last_fresh, spent = {}, {}, 0.0
    for r in results:
        t0 = time.perf_counter()
        kept = steady.place(r)
        spent += time.perf_counter() - t0
        for fr, p, q in zip(r.faces, kept, layout(r, detail)):
            if fr.track in last:
                pairs += 1
                changes += last[fr.track] != p.side
                fresh_changes += last_fresh[fr.track] != q.side
            last[fr.track], last_fresh[fr.track] = p.side, q.side
    return (
        f"{clip[:28]:28s} {detail:8s} {len(results):6d} {pairs:6d} {changes:7d} {fresh_changes:7d} "
        f"{1000 * spent / max(1, len(results)):9.1f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    path = MEDIA / "photos" / "solvay_conference_1927.jpg"
    rgb = load_image(path).pixels
    result = affectlens.Analyzer().analyze(rgb, source=str(path))
    print(f"Solvay photo {result.width}x{result.height}")
    print("detail   faces displaced on-face overlaps  off layout_ms annotate_ms")
    for detail in ("compact", "full"):
        print(photo_row(rgb, result, detail, args.repeats))
    print("\nvideo at 10 fps                       frames  pairs  steady  afresh  ms/frame")
    for clip in CLIPS:
        results = list(affectlens.analyze_video_iter(str(MEDIA / "videos" / clip), fps=10, workers=2))
        for detail in ("compact", "full"):
            print(video_row(clip, detail, results))


if __name__ == "__main__":
    main()
