"""Speed of the photo pipeline on the real photos, and of the expression classifier alone.

Prints a table (``--write`` also writes benchmarks/results/speed.json):
- per image: median wall time of detect + align + classify (image already decoded), per photo;
- per face: median time of one classifier call at batch 1 with 2 onnxruntime threads, and of
  the face mesh (both passes, 1 onnxruntime thread; head pose and action units included; the
  per-image times include it too).

    python benchmarks/speed.py [--repeats 10] [--model NAME] [--write]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from affectlens import Analyzer, Options
from affectlens.io.image import load_image

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "media" / "photos"


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--model", default=None)
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/speed.json (default: print only)")
    args = ap.parse_args()
    analyzer = Analyzer(Options().replace(model=args.model), threads=2)
    rows = []
    for path in sorted(args.photos.iterdir()):
        img = load_image(path)
        faces = len(analyzer.analyze(img.pixels).faces)
        ms = median_ms(lambda px=img.pixels: analyzer.analyze(px), args.repeats)
        rows.append(
            {"photo": path.name, "size": f"{img.width}x{img.height}", "faces": faces, "ms_per_image": round(ms, 1)}
        )
    crop = analyzer.align(
        load_image(args.photos / "astronaut.png").pixels,
        analyzer.detect(load_image(args.photos / "astronaut.png").pixels)[0][:1],
    )
    x = analyzer.model.preprocess(crop)
    face_ms = median_ms(lambda: analyzer.model.forward(x), max(200, args.repeats))
    print(f"model {analyzer.model.cfg.name}, 2 threads")
    print(f"{'photo':<30}{'size':>11}{'faces':>7}{'ms/image':>10}")
    for r in rows:
        print(f"{r['photo']:<30}{r['size']:>11}{r['faces']:>7}{r['ms_per_image']:>10.1f}")
    med = statistics.median(r["ms_per_image"] for r in rows)
    print(f"median per image (detect + align + classify): {med:.1f} ms")
    print(f"classifier per face (batch 1): {face_ms:.2f} ms")
    mesh_ms = None
    if analyzer.face_mesh is not None:
        from affectlens.pipeline.image import describe_face

        rgb = load_image(args.photos / "astronaut.png").pixels
        face = analyzer.detect(rgb)[0][0]
        mesh_ms = median_ms(
            lambda: describe_face(analyzer.face_mesh.run(rgb, face).points, "happiness"), max(100, args.repeats)
        )
        print(f"face mesh + pose + action units per face: {mesh_ms:.2f} ms")
    else:
        print("face mesh: off")
    if args.write:
        out = ROOT / "benchmarks" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "speed.json").write_text(
            json.dumps(
                {
                    "model": analyzer.model.cfg.name,
                    "photos": rows,
                    "median_ms_per_image": med,
                    "classifier_ms_per_face": face_ms,
                    "mesh_ms_per_face": mesh_ms,
                },
                indent=2,
            )
            + "\n"
        )
        print(f"wrote {out / 'speed.json'}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
