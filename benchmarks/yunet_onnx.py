"""The packaged YuNet face detector (ONNX on onnxruntime) against the library in the yuface wheel.

affectlens ships YuNet (libfacedetection, BSD-3) as ONNX,
``src/affectlens/weights/yunet/yunet.onnx``, so that it runs on onnxruntime like every other
model of the package. The yuface wheel has the same weights compiled into its
``libfacedetection.so``, but that build runs without AVX2 and took 3.4 to 6 times as long per
call on this project's 2-core machines. This script is how the ONNX file was made and how to
check it:

- ``--convert`` regenerates the ONNX file from the installed yuface wheel: it reads the 53
  convolution layers' weights and biases through the library's exported ``param_pConvInfo``
  table (``ctypes``; channels, filters, depthwise or pointwise, float pointers) and writes the
  network as ONNX operators (``pip install onnx``). The weights are unchanged. The first layer
  (a 3x3 stride-2 convolution that the library runs as a 1x1 convolution over 27 gathered
  pixel values) becomes an ordinary 3x3 stride-2 convolution.
- Without ``--convert``: runs both on the real photos (each at a 320, 640 and 1280-px longer
  side, and the photos mirrored), matches their faces at a score of at least 0.5, prints how
  many each found, the largest score difference and the largest box and landmark difference (in
  pixels of the detector's input; both give whole percent and pixels), and times one call of
  each (1 and 2 threads, interleaved, median of ``--repeats``; the library through the wheel's
  ``yuface.detect``, its OpenMP threads set through the wheel's libgomp). ``--write`` also writes ``benchmarks/results/yunet_onnx.json``.

    python benchmarks/yunet_onnx.py [--repeats 20] [--write]
    python benchmarks/yunet_onnx.py --convert
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine  # noqa: E402

PHOTOS = ROOT.parent / "shared" / "media" / "photos"
OUT = ROOT / "src" / "affectlens" / "weights" / "yunet" / "yunet.onnx"
#: Layers of the library's table; the detector's graph below names them by index.
N_LAYERS = 53


class ConvInfo(ctypes.Structure):
    """One row of libfacedetection's ``param_pConvInfo`` table."""

    _fields_ = [
        ("channels", ctypes.c_int),
        ("num_filters", ctypes.c_int),
        ("is_depthwise", ctypes.c_bool),
        ("is_pointwise", ctypes.c_bool),
        ("with_relu", ctypes.c_bool),
        ("weights", ctypes.POINTER(ctypes.c_float)),
        ("biases", ctypes.POINTER(ctypes.c_float)),
    ]


def library_layers() -> list[dict]:
    """The 53 layers of the installed yuface wheel's libfacedetection: channels in and out,
    kind, weights (pointwise: filters x channels; depthwise: 9 kernel positions x channels) and
    biases, copied out of the library."""
    import yuface

    pkg = Path(yuface.__file__).resolve().parent
    lib = ctypes.CDLL(str(next(p for p in sorted(pkg.iterdir()) if p.name.startswith("libfacedetection"))))
    table = (ConvInfo * N_LAYERS).in_dll(lib, "param_pConvInfo")
    layers = []
    for c in table:
        if c.is_pointwise == c.is_depthwise:
            raise RuntimeError("libfacedetection: a layer is neither 1x1 pointwise nor 3x3 depthwise")
        n = c.num_filters * c.channels if c.is_pointwise else 9 * c.channels
        layers.append(
            {
                "cin": c.channels,
                "cout": c.num_filters,
                "depthwise": bool(c.is_depthwise),
                "weights": np.ctypeslib.as_array(c.weights, (n,)).astype(np.float32),
                "biases": np.ctypeslib.as_array(c.biases, (c.num_filters,)).astype(np.float32),
            }
        )
    return layers


def build_model(layers: list[dict]):
    """YuNet as an ONNX model: input ``rgb`` uint8 (1, H, W, 3) with H and W multiples of 32;
    outputs ``cls_S``, ``obj_S`` (1, 1, H/S, W/S), ``box_S`` (1, 4, ...) and ``kps_S`` (1, 10, ...)
    for strides S = 8, 16, 32, before the sigmoid and the prior decoding."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits = [], []

    def fresh(prefix: str) -> str:
        return f"{prefix}{len(nodes)}"

    def conv(x: str, i: int, relu: bool) -> str:
        layer = layers[i]
        cin, cout, w = layer["cin"], layer["cout"], layer["weights"]
        if i == 0:  # 3x3 stride 2 over (ky, kx, B, G, R)-ordered pixels (27 of 32 used); input RGB
            weight = w.reshape(cout, 32)[:, :27].reshape(cout, 3, 3, 3).transpose(0, 3, 1, 2)[:, ::-1]
            attrs = {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}
        elif not layer["depthwise"]:
            weight = w.reshape(cout, cin, 1, 1)
            attrs = {"kernel_shape": [1, 1]}
        else:
            weight = w.reshape(9, cin).T.reshape(cin, 1, 3, 3)
            attrs = {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "group": cin}
        wn, bn, y = f"layer{i}.weight", f"layer{i}.bias", fresh("conv")
        inits.extend(
            [numpy_helper.from_array(np.ascontiguousarray(weight), wn), numpy_helper.from_array(layer["biases"], bn)]
        )
        nodes.append(helper.make_node("Conv", [x, wn, bn], [y], **attrs))
        if not relu:
            return y
        r = fresh("relu")
        nodes.append(helper.make_node("Relu", [y], [r]))
        return r

    def dp(x: str, i: int, relu: bool = True) -> str:  # pointwise, then depthwise
        return conv(conv(x, i, False), i + 1, relu)

    def unit(x: str, i: int) -> str:
        return dp(dp(x, i), i + 2)

    def pool(x: str) -> str:
        y = fresh("pool")
        nodes.append(helper.make_node("MaxPool", [x], [y], kernel_shape=[2, 2], strides=[2, 2]))
        return y

    def up_add(small: str, big: str) -> str:
        u, y = fresh("up"), fresh("add")
        nodes.append(helper.make_node("Resize", [small, "", "up_scales"], [u], mode="nearest"))
        nodes.append(helper.make_node("Add", [u, big], [y]))
        return y

    inits.append(numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "up_scales"))
    nodes.append(helper.make_node("Cast", ["rgb"], ["rgb_f"], to=TensorProto.FLOAT))
    nodes.append(helper.make_node("Transpose", ["rgb_f"], ["x"], perm=[0, 3, 1, 2]))
    x = pool(dp(conv("x", 0, True), 1))
    x = pool(unit(unit(x, 3), 7))
    f8 = unit(x, 11)
    f16 = unit(pool(f8), 15)
    f32 = dp(unit(pool(f16), 19), 27)
    f16 = dp(up_add(f32, f16), 25)
    f8 = dp(up_add(f16, f8), 23)
    # heads per level (stride 8, 16, 32): the table's layer of cls, box, obj and kps
    heads = {8: (29, 35, 41, 47), 16: (31, 37, 43, 49), 32: (33, 39, 45, 51)}
    outputs = []
    for stride, feat in ((8, f8), (16, f16), (32, f32)):
        for kind, i in zip(("cls", "box", "obj", "kps"), heads[stride]):
            name = f"{kind}_{stride}"
            nodes.append(helper.make_node("Identity", [dp(feat, i, False)], [name]))
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, None, None]))
    graph = helper.make_graph(
        nodes,
        "yunet",
        [helper.make_tensor_value_info("rgb", TensorProto.UINT8, [1, None, None, 3])],
        outputs,
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="affectlens benchmarks/yunet_onnx.py"
    )
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def convert(out: Path) -> None:
    from importlib.metadata import version

    import onnx

    model = build_model(library_layers())
    model.doc_string = f"YuNet (libfacedetection, BSD-3) from the weights in the yuface {version('yuface')} wheel"
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    print(f"wrote {out} ({out.stat().st_size} bytes)")


def library_rows(bgr: np.ndarray) -> np.ndarray:
    """The wheel's own detector: rows score (percent), x, y, w, h, five landmarks."""
    from yuface.yuface import detect

    return np.asarray(detect(np.ascontiguousarray(bgr)), dtype=np.float64).reshape(-1, 16)[:, :15]


def library_threads(n: int) -> None:
    """OpenMP threads of the library's next calls from this thread (its bundled libgomp)."""
    import yuface

    libs = Path(yuface.__file__).resolve().parent.parent / "yuface.libs"
    for path in sorted(libs.glob("libgomp*")):
        fn = ctypes.CDLL(str(path)).omp_set_num_threads
        fn.argtypes = [ctypes.c_int]
        fn(n)


def compare(images: dict[str, np.ndarray], repeats: int) -> dict:
    from affectlens.detect.yunet import YuNetOnnx

    onnx_det = {t: YuNetOnnx(threads=t) for t in (1, 2)}
    rows, worst = [], {"score": 0.0, "box_px": 0.0, "landmark_px": 0.0}
    found = {"library": 0, "onnx": 0, "matched": 0}
    for name, bgr in images.items():
        lib = library_rows(bgr)
        lib = lib[lib[:, 0] >= 50]
        ours = onnx_det[1].rows(np.ascontiguousarray(bgr[:, :, ::-1]), 0.5)
        found["library"] += len(lib)
        found["onnx"] += len(ours)
        for r in lib:  # nearest face of ours by box corner
            if not len(ours):
                continue
            j = int(np.argmin(np.abs(ours[:, 1:3] - r[1:3]).sum(1)))
            o = ours[j]
            if np.abs(o[1:5] - r[1:5]).max() > 4:
                continue
            found["matched"] += 1
            worst["score"] = max(worst["score"], abs(o[0] - r[0]) / 100)
            worst["box_px"] = max(worst["box_px"], float(np.abs(o[1:5] - r[1:5]).max()))
            worst["landmark_px"] = max(worst["landmark_px"], float(np.abs(o[5:15] - r[5:15]).max()))
        rows.append((name, bgr.shape[1], bgr.shape[0], len(lib), len(ours)))
    print(f"{'image':40s} {'size':>10s} {'library':>8s} {'onnx':>5s}")
    for name, w, h, a, b in rows:
        print(f"{name:40s} {w:>4d}x{h:<5d} {a:>8d} {b:>5d}")
    print(
        f"faces at score >= 0.5: library {found['library']}, onnx {found['onnx']}, matched {found['matched']}; "
        f"largest difference: score {worst['score']:.3f}, box {worst['box_px']:.2f} px, "
        f"landmarks {worst['landmark_px']:.2f} px"
    )
    timing = {}
    for name in ("astronaut.png@320", "solvay_conference_1927.jpg@640", "solvay_conference_1927.jpg@1280"):
        bgr = images[name]
        rgb = np.ascontiguousarray(bgr[:, :, ::-1])
        for threads in (1, 2):
            library_threads(threads)
            net = onnx_det[threads]
            calls = {
                "library": lambda bgr=bgr: library_rows(bgr),
                "onnx": lambda rgb=rgb, net=net: net.rows(rgb, 0.5),
            }
            times = {k: [] for k in calls}
            for fn in calls.values():
                fn()
            for _ in range(repeats):  # interleaved
                for k, fn in calls.items():
                    t0 = time.perf_counter()
                    fn()
                    times[k].append(1000 * (time.perf_counter() - t0))
            med = {k: round(statistics.median(v), 2) for k, v in times.items()}
            timing[f"{name} {bgr.shape[1]}x{bgr.shape[0]}, {threads} thread{'s' if threads > 1 else ''}"] = med
            print(
                f"{name:34s} {bgr.shape[1]:>4d}x{bgr.shape[0]:<4d} {threads} thread(s): library {med['library']:7.2f} ms, "
                f"onnx {med['onnx']:6.2f} ms (median of {repeats}, decoding included)"
            )
    return {"faces": found, "largest_difference": worst, "ms_per_call": timing}


def test_images() -> dict[str, np.ndarray]:
    images = {}
    for path in sorted(PHOTOS.iterdir()):
        img = Image.open(path).convert("RGB")
        for mirrored in (False, True):
            im = ImageOps.mirror(img) if mirrored else img
            for side in (320, 640, 1280):
                k = side / max(im.size)
                if k > 1.0:
                    continue
                small = im.resize((round(im.width * k), round(im.height * k)), Image.BILINEAR)
                images[f"{path.name}{' mirrored' if mirrored else ''}@{side}"] = np.ascontiguousarray(
                    np.asarray(small)[:, :, ::-1]
                )
    return images


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--convert", action="store_true", help=f"write {OUT.relative_to(ROOT)} from the yuface wheel")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--write", action="store_true", help="write benchmarks/results/yunet_onnx.json")
    args = ap.parse_args()
    if args.convert:
        convert(OUT)
        return
    result = compare(test_images(), args.repeats)
    info = machine()
    print(f"load average (1, 5, 15 min): {' '.join(str(v) for v in info['load_average'])}")
    if args.write:
        out = ROOT / "benchmarks" / "results" / "yunet_onnx.json"
        out.write_text(json.dumps({"machine": info, **result}, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
