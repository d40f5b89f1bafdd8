"""Speed of the photo pipeline on the real photos, and of the expression classifier alone.

Prints a table (``--write`` also writes benchmarks/results/speed.json), with the machine's load
average beside it (speed on a busy machine is not speed):
- per image: median wall time of detect + align + classify + mesh (image already decoded), per photo;
- per face: median time of one classifier call at batch 1 with 2 onnxruntime threads, and of
  the face mesh (both passes, 1 onnxruntime thread; head pose and action units included; the
  per-image times include it too), on the astronaut's face and on a Solvay face;
- portraits/s: a folder of 640-px portraits made from the real photos (each single-face photo
  and its mirror image, and every Solvay face with its surroundings, scaled to 640 px and saved
  as JPEG) through ``Runner.run`` end to end (decode included, models already loaded), with one
  photo thread and with the default pool, alternately, ``--rounds`` times each;
- start-up: wall time of ``python -m affectlens.cli analyze astronaut.png --json`` (a fresh
  process: imports, models, one photo) beside ``python -c pass``, alternately.

    python benchmarks/speed.py [--repeats 10] [--rounds 2] [--model NAME] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from affectlens import Analyzer, Options
from affectlens.io.image import load_image
from affectlens.jobs.run import PHOTO_WORKERS, Runner

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "media" / "photos"


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


PORTRAIT_SIDE = 640
GROUP = "solvay_conference_1927.jpg"


def make_portraits(analyzer: Analyzer, photos: Path, folder: Path) -> int:
    """Write 640-px portraits made from the real photos into ``folder``; return how many: a
    one-face photo and its mirror image; each face of a group photo with its surroundings."""
    from PIL import Image, ImageOps

    def save(img: Image.Image) -> None:
        img = img.convert("RGB")
        k = PORTRAIT_SIDE / max(img.size)
        img.resize((round(img.width * k), round(img.height * k)), Image.BILINEAR).save(
            folder / f"{len(list(folder.iterdir())):03d}.jpg", quality=92
        )

    for path in sorted(photos.iterdir()):
        rgb = load_image(path).pixels
        img = Image.fromarray(rgb)
        faces = analyzer.detect(rgb)[0]
        if len(faces) <= 1:
            save(img)
            save(ImageOps.mirror(img))
            continue
        for face in faces:
            x, y, w, h = face.box
            cx, cy, half = x + w / 2, y + h / 2, 1.25 * max(w, h)
            save(img.crop((round(cx - half), round(cy - half), round(cx + half), round(cy + half))))
    return len(list(folder.iterdir()))


def portraits_per_second(folder: Path, n: int, rounds: int, options: Options) -> dict:
    """Portraits/s end to end through ``Runner.run``, 1 thread vs the pool, alternately."""
    runners = {1: Runner(options, photo_workers=1), PHOTO_WORKERS: Runner(options, photo_workers=PHOTO_WORKERS)}
    for r in runners.values():
        list(r.run(sorted(folder.iterdir())[:2]))  # load the models, warm up
    rates = {k: [] for k in runners}
    for _ in range(rounds):
        for k, r in runners.items():
            t0 = time.perf_counter()
            got = sum(1 for _ in r.run(folder))
            rates[k].append(got / (time.perf_counter() - t0))
            if got != n:
                raise RuntimeError(f"{folder}: {got} results for {n} portraits")
    return {f"{k}_thread{'s' if k > 1 else ''}": [round(v, 2) for v in vs] for k, vs in rates.items()}


def startup_seconds(photo: Path, rounds: int) -> dict:
    """Wall time of a fresh ``affectlens analyze PHOTO --json`` and of ``python -c pass``."""
    cmds = {
        "analyze_one_photo": [sys.executable, "-m", "affectlens.cli", "analyze", str(photo), "--json"],
        "python_alone": [sys.executable, "-c", "pass"],
    }
    times = {k: [] for k in cmds}
    for _ in range(rounds):
        for k, cmd in cmds.items():
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[k].append(round(time.perf_counter() - t0, 3))
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of portraits/s and start-up")
    ap.add_argument("--model", default=None)
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/speed.json (default: print only)")
    args = ap.parse_args()
    options = Options().replace(model=args.model)
    analyzer = Analyzer(options, threads=2)
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
    print(f"median per image (detect + align + classify + face mesh, AUs): {med:.1f} ms")
    print(f"classifier per face (batch 1): {face_ms:.2f} ms")
    mesh_ms = None
    if analyzer.face_mesh is not None:
        from affectlens.pipeline.image import describe_face

        mesh_ms = {}
        for name in [n for n in ("astronaut.png", GROUP) if (args.photos / n).is_file()]:
            rgb = load_image(args.photos / name).pixels
            face = analyzer.detect(rgb)[0][0]
            mesh_ms[name] = median_ms(
                lambda rgb=rgb, face=face: describe_face(analyzer.face_mesh.run(rgb, face).points, "happiness"),
                max(100, args.repeats),
            )
            print(f"face mesh + pose + action units per face ({name}): {mesh_ms[name]:.2f} ms")
    else:
        print("face mesh: off")
    with tempfile.TemporaryDirectory() as tmp:
        n = make_portraits(analyzer, args.photos, Path(tmp))
        rates = portraits_per_second(Path(tmp), n, args.rounds, options)
    for k, vs in rates.items():
        print(
            f"{n} portraits of {PORTRAIT_SIDE} px, {k.replace('_', ' ')}: {', '.join(f'{v:.1f}' for v in vs)} portraits/s"
        )
    startup = startup_seconds(args.photos / "astronaut.png", args.rounds)
    for k, vs in startup.items():
        print(f"start-up, {k.replace('_', ' ')}: {', '.join(f'{v:.2f}' for v in vs)} s")
    load = os.getloadavg()
    print(f"load average (1, 5, 15 min): {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
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
                    "portraits": n,
                    "portraits_per_s": rates,
                    "startup_s": startup,
                    "load_average": load,
                    "machine": machine(),
                },
                indent=2,
            )
            + "\n"
        )
        print(f"wrote {out / 'speed.json'}")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
