"""Cheaper variants of an exported expression classifier: int8 (static QDQ or dynamic) and float16.

The same step for every classifier the project packs (``pack_model(..., quantize=...)`` and
``python benchmarks/classifier_variants.py``), so a new default model is quantised exactly like
the last one:

- ``int8``: static quantisation in QDQ format, weights int8 per output channel in 7 bits
  (``reduce_range``: |w| <= 64), activations uint8, ranges from MinMax calibration on FER2013
  *training* crops (never validation or test),
  preprocessed exactly as the model's :meth:`~affectlens.models.expression.ExpressionModel.preprocess`
  does, each with its mirror image (what a mirror-averaging model also sees);
- ``int8-dynamic``: weights int8 (8 bits: ``reduce_range`` cost it 6.6 more points, and its
  ConvInteger path gave the same answers with and without fused kernels here), activations
  quantised at run time (no calibration);
- ``float16``: weights and arithmetic in float16, float32 inputs and outputs.

Why 7 bits: on x86 CPUs without VNNI (AVX2 only, e.g. AMD Zen and Intel before Ice Lake)
onnxruntime multiplies uint8 activations by int8 weights with ``vpmaddubsw``, which adds two
products into a saturating signed 16-bit sum. With full 8-bit weights (up to 2 x 255 x 127)
that sum overflows and the shipped model lost 8 points of FER+ accuracy on such CPUs, while
the same file was exact on VNNI machines. 7-bit weights (2 x 255 x 64 = 32640) cannot overflow,
so every CPU computes what the QDQ graph defines (``tests/unit/test_quantize.py``).

Whether a variant is kept is decided by measurement (FER+ test accuracy within 0.3 points of
float32: ``benchmarks/classifier_variants.py``), not here.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from affectlens.registry import ModelCfg

log = logging.getLogger("affectlens")

VARIANTS = ("int8", "int8-dynamic", "float16")
#: Training crops used to calibrate the int8 activation ranges, and the seed that picks them.
CALIBRATION_CROPS = 512
CALIBRATION_SEED = 0


def float32_cfg(cfg: ModelCfg) -> ModelCfg:
    """``cfg`` on its float32 ONNX file: the file a quantised registry entry was made from
    (its ``quantized_from``), else ``cfg`` itself."""
    import dataclasses

    return dataclasses.replace(cfg, file=cfg.quantized_from, quantized_from="") if cfg.quantized_from else cfg


def calibration_inputs(cfg: ModelCfg, crops: np.ndarray) -> np.ndarray:
    """Model inputs (2N, C, S, S) float32 for uint8 crops, as the model preprocesses them, then
    their mirror images (the same whatever ``cfg.flip_tta`` says, so packing and benchmarking
    calibrate alike)."""
    x = np.asarray(crops, dtype=np.float32)
    if x.ndim == 3:
        x = x[:, :, :, None]
    x = (x - np.asarray(cfg.mean, np.float32)) / np.asarray(cfg.std, np.float32)
    x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    return np.ascontiguousarray(np.concatenate([x, x[:, :, :, ::-1]]))


def training_crops(root, n: int = CALIBRATION_CROPS, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """``n`` FER2013 training crops (uint8, 48x48), drawn with a fixed seed."""
    from affectlens.eval.datasets.fer2013 import USAGE, read_fer2013

    _, pixels, usage = read_fer2013(root)
    train = pixels[usage == USAGE["train"]]
    if len(train) == 0:
        raise ValueError(f"{root}: no FER2013 training rows to calibrate on")
    pick = np.random.default_rng(seed).choice(len(train), size=min(n, len(train)), replace=False)
    return train[np.sort(pick)]


class _Batches:
    """onnxruntime calibration reader: one input at a time."""

    def __init__(self, name: str, inputs: np.ndarray, batch: int = 32):
        self.name = name
        self.parts = iter([inputs[i : i + batch] for i in range(0, len(inputs), batch)])

    def get_next(self):
        part = next(self.parts, None)
        return None if part is None else {self.name: part}


def quantize_classifier(src: Path, dst: Path, variant: str, cfg: ModelCfg, crops: np.ndarray | None = None) -> Path:
    """Write the ``variant`` (one of :data:`VARIANTS`) of the ONNX classifier ``src`` to ``dst``.

    ``cfg`` gives the preprocessing; ``crops`` (uint8, the model's input size) are needed for
    ``int8`` (see :func:`training_crops`).
    """
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_dynamic, quantize_static

    if variant not in VARIANTS:
        raise ValueError(f"unknown classifier variant {variant!r}; valid: {', '.join(VARIANTS)}")
    src, dst = Path(src), Path(dst)
    if variant == "float16":
        from onnxruntime.transformers.float16 import convert_float_to_float16

        onnx.save(convert_float_to_float16(onnx.load(str(src)), keep_io_types=True), str(dst))
        return dst
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        _prepare(src, prepared)
        if variant == "int8-dynamic":
            quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8, per_channel=True)
            return dst
        if crops is None or len(crops) == 0:
            raise ValueError("int8 quantisation needs calibration crops (training_crops(root))")
        name = onnx.load(str(prepared)).graph.input[0].name
        quantize_static(
            str(prepared),
            str(dst),
            _Batches(name, calibration_inputs(cfg, crops)),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            reduce_range=True,
        )
    log.info("%s: %s written to %s", src.name, variant, dst)
    return dst


def _prepare(src: Path, dst: Path) -> None:
    """Shape inference and graph folding before quantisation (onnxruntime's recommended step),
    at opset >= 13 (per-channel QDQ needs it)."""
    import onnx
    import onnx.version_converter
    from onnxruntime.quantization.shape_inference import quant_pre_process

    model = onnx.load(str(src))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 13)
    if opset < 13:
        model = onnx.version_converter.convert_version(model, 13)
    raw = dst.with_name("raw.onnx")
    onnx.save(model, str(raw))
    quant_pre_process(str(raw), str(dst), skip_symbolic_shape=True)


def dequantize_qdq(src: Path, dst: Path) -> Path:
    """Write the float32 network behind a static QDQ file ``src`` to ``dst``: every quantised
    initializer (weights, biases) replaced by its dequantised float values, every activation
    QuantizeLinear/DequantizeLinear pair replaced by a Clip to its quantised range (the
    quantiser drops a Relu/Clip that this range already applies).

    For a shipped int8 model whose float32 file was not kept: the result computes what ``src``
    computes, without the activations' rounding, so it can be quantised again.
    """
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    values = {name: numpy_helper.to_array(init) for name, init in inits.items()}
    producer = {out: node for node in graph.node for out in node.output}
    drop, new_inits, clips = [], [], {}
    for node in graph.node:
        if node.op_type != "DequantizeLinear":
            continue
        x, scale = node.input[0], values[node.input[1]]
        zero = values[node.input[2]] if len(node.input) > 2 and node.input[2] else np.zeros_like(scale)
        if x in values:  # a quantised weight or bias
            axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
            q = values[x].astype(np.float32)
            shape = [1] * q.ndim
            if scale.ndim and q.ndim:
                shape[axis] = -1
            w = (q - zero.astype(np.float32).reshape(shape)) * scale.astype(np.float32).reshape(shape)
            new_inits.append(numpy_helper.from_array(w.astype(np.float32), node.output[0]))
            drop.append(node)
            continue
        quant = producer.get(x)
        if quant is None or quant.op_type != "QuantizeLinear":
            raise ValueError(
                f"{src}: DequantizeLinear {node.name!r} follows neither an initializer nor a QuantizeLinear"
            )
        # the pair clamps to the quantised range: keep that (it stands in for a removed Relu/Clip)
        info = np.iinfo(values[quant.input[2]].dtype) if len(quant.input) > 2 else np.iinfo(np.uint8)
        lo, hi = ((np.array([info.min, info.max], np.float32) - zero.astype(np.float32)) * scale).astype(np.float32)
        bounds = [f"{node.output[0]}_min", f"{node.output[0]}_max"]
        new_inits += [numpy_helper.from_array(np.array(v, np.float32), n) for v, n in zip((lo, hi), bounds)]
        clips[id(node)] = onnx.helper.make_node("Clip", [quant.input[0], *bounds], [node.output[0]])
        drop.append(quant)
    dropped = {id(n) for n in drop}
    keep = [clips.get(id(n), n) for n in graph.node if id(n) not in dropped]
    del graph.node[:]
    graph.node.extend(keep)
    used = {name for node in keep for name in node.input}
    remaining = [init for init in graph.initializer if init.name in used]
    del graph.initializer[:]
    graph.initializer.extend(remaining + new_inits)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    log.info("%s: float32 network written to %s", src.name, dst)
    return dst
