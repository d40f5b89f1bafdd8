"""Face mesh variants on onnxruntime: float32 (shipped), float16, int8 dynamic, int8 static (QDQ).

For each variant, on every face the detector finds in the real photos (``../shared/media/photos``):
- landmark error against the shipped float32 mesh, after the whole two-pass fit
  (:meth:`~affectlens.models.landmarks.FaceMesh.run`): mean and largest per-face mean 2D
  displacement of the 468 points, in % of the inter-ocular distance (eye centres);
- the largest change of any action unit intensity (0..1) and how many faces change fit/no fit;
- ms per face of the fit + head pose + action units (1 onnxruntime thread), min and median over
  repeats run alternately across variants in one window (the machine's load average is printed).

The int8 static variant is calibrated on mesh crops of faces from the real videos in
``../shared/media/videos`` (both passes), never on the photos it is scored on.

    python benchmarks/mesh_variants.py [--repeats 30] [--write]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from affectlens import Analyzer, Options
from affectlens.io.image import load_image
from affectlens.models import landmarks as lm
from affectlens.models.runtime import onnx_session
from affectlens.pipeline.image import describe_face

ROOT = Path(__file__).resolve().parents[1]
MEDIA = ROOT.parent / "shared" / "media"
#: Frames taken from each calibration video, and the step between them.
CALIB_FRAMES, CALIB_STEP = 12, 15


def load_faces(analyzer: Analyzer, photos: Path) -> list[tuple[str, np.ndarray, object]]:
    """(photo name, RGB pixels, Face) for every face the detector finds in the photos."""
    out = []
    for path in sorted(photos.iterdir()):
        rgb = load_image(path).pixels
        out += [(path.name, rgb, f) for f in analyzer.detect(rgb)[0]]
    return out


def calibration_crops(analyzer: Analyzer, videos: Path) -> list[np.ndarray]:
    """Mesh crops (both passes, float32 model) of the faces in frames of the real videos."""
    import av

    crops = []
    for path in sorted(videos.glob("*.mp4")):
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(video=0)):
                if i >= CALIB_FRAMES * CALIB_STEP:
                    break
                if i % CALIB_STEP:
                    continue
                rgb = frame.to_ndarray(format="rgb24")
                for face in analyzer.detect(rgb)[0]:
                    m = lm.mesh_roi(face)
                    crop = lm.mesh_crop(rgb, m)
                    crops.append(crop)
                    pts, score = analyzer.face_mesh.forward(crop)
                    if score >= lm.MIN_MESH_SCORE:
                        crops.append(lm.mesh_crop(rgb, lm.refine_roi(lm.project(pts, m))))
    return crops


class _Reader:
    """onnxruntime calibration data reader over mesh crops."""

    def __init__(self, crops: list[np.ndarray]):
        self.it = iter(crops)

    def get_next(self):
        crop = next(self.it, None)
        return None if crop is None else {"crop": lm.to_input(crop)}


def make_variants(workdir: Path, calib: list[np.ndarray]) -> dict[str, Path]:
    """The shipped float32 file and its float16, int8 dynamic and int8 static QDQ conversions."""
    import onnx
    import onnx.version_converter
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.transformers.float16 import convert_float_to_float16

    f32 = lm.weights_path()
    out = {"float32": f32}
    out["float16"] = workdir / "f16.onnx"
    onnx.save(convert_float_to_float16(onnx.load(str(f32)), keep_io_types=True), str(out["float16"]))
    src13 = workdir / "f32_opset13.onnx"  # per-channel QDQ needs opset >= 13 (the file has 11)
    onnx.save(onnx.version_converter.convert_version(onnx.load(str(f32)), 13), str(src13))
    out["int8 dynamic"] = workdir / "dyn.onnx"
    quantize_dynamic(str(src13), str(out["int8 dynamic"]), weight_type=QuantType.QInt8)
    out["int8 static QDQ"] = workdir / "qdq.onnx"
    quantize_static(
        str(src13),
        str(out["int8 static QDQ"]),
        _Reader(calib),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
        calibrate_method=CalibrationMethod.MinMax,
    )
    return out


def iod(points: np.ndarray) -> float:
    """Distance between the two eye centres (mean of each eye's corners)."""
    i = lm.IDX
    right = (points[i["r_eye_outer"], :2] + points[i["r_eye_inner"], :2]) / 2
    left = (points[i["l_eye_outer"], :2] + points[i["l_eye_inner"], :2]) / 2
    return float(np.linalg.norm(left - right))


def compare(ref: list, got: list) -> dict:
    """Landmark displacement (% of inter-ocular distance) and AU changes, ``got`` vs ``ref``."""
    disp, au_diff, flips = [], [], 0
    for (p0, a0), (p1, a1) in zip(ref, got):
        if len(p0) != len(p1):
            flips += 1
            continue
        if not len(p0):
            continue
        disp.append(100 * float(np.linalg.norm(p1[:, :2] - p0[:, :2], axis=1).mean()) / iod(p0))
        d = np.abs(np.array(a1.values) - np.array(a0.values))
        au_diff.append(float(np.nanmax(d)) if np.isfinite(d).any() else 0.0)
    return {
        "faces_compared": len(disp),
        "fit_changed": flips,
        "mean_disp_pct_iod": round(statistics.mean(disp), 4) if disp else None,
        "max_disp_pct_iod": round(max(disp), 4) if disp else None,
        "max_au_change": round(max(au_diff), 4) if au_diff else None,
        "mean_au_change": round(statistics.mean(au_diff), 4) if au_diff else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/mesh_variants.json")
    args = ap.parse_args()
    analyzer = Analyzer(Options())
    mesh = analyzer.face_mesh
    faces = load_faces(analyzer, MEDIA / "photos")
    calib = calibration_crops(analyzer, MEDIA / "videos")
    with tempfile.TemporaryDirectory() as tmp:
        paths = make_variants(Path(tmp), calib)
        sessions = {name: onnx_session(p, 1) for name, p in paths.items()}
    fits = {}
    for name, sess in sessions.items():
        mesh.session = sess
        fits[name] = []
        for _, rgb, face in faces:
            pts = mesh.run(rgb, face).points
            fits[name].append((pts, describe_face(pts, "neutral")[1]))
    timed = [(n, rgb, f) for n, rgb, f in faces if n in ("astronaut.png", "solvay_conference_1927.jpg")][:2]
    times = {name: [] for name in sessions}
    for _ in range(args.repeats):  # alternate variants so load changes hit them alike
        for name, sess in sessions.items():
            mesh.session = sess
            for _, rgb, face in timed:
                t0 = time.perf_counter()
                describe_face(mesh.run(rgb, face).points, "neutral")
                times[name].append(1000 * (time.perf_counter() - t0))
    rows = []
    for name in sessions:
        row = {"variant": name, **compare(fits["float32"], fits[name])}
        row["ms_per_face_min"] = round(min(times[name]), 2)
        row["ms_per_face_median"] = round(statistics.median(times[name]), 2)
        row["file_kb"] = round(paths[name].stat().st_size / 1024) if paths[name].exists() else None
        rows.append(row)
    load = os.getloadavg()
    print(f"{len(faces)} photo faces scored, {len(calib)} video crops for calibration; load average {load[0]:.2f}")
    print(f"{'variant':<18}{'disp %IOD mean':>15}{'max':>8}{'AU max Δ':>10}{'fit Δ':>7}{'ms min':>8}{'ms med':>8}")
    for r in rows:
        print(
            f"{r['variant']:<18}{r['mean_disp_pct_iod']:>15.3f}{r['max_disp_pct_iod']:>8.3f}"
            f"{r['max_au_change']:>10.3f}{r['fit_changed']:>7}{r['ms_per_face_min']:>8.2f}{r['ms_per_face_median']:>8.2f}"
        )
    if args.write:
        out = ROOT / "benchmarks" / "results" / "mesh_variants.json"
        out.write_text(
            json.dumps({"load_average": load, "calibration_crops": len(calib), "rows": rows}, indent=2) + "\n"
        )
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
