"""Export a fine-tuned MiniLM text model to ONNX, shrink it, calibrate it, register it.

:func:`finish` turns ``best.pt`` (from :mod:`affectlens.train.text_transformer`) into a weights
folder: ``<name>.onnx``, ``tokenizer.json``, ``models.json`` (engine ``transformer``).

* ONNX: inputs ``input_ids``, ``token_type_ids``, ``attention_mask`` (int64, N x T), outputs
  ``logits`` (N x K) and ``embedding`` (N x 384, mean-pooled), opset 17.
* weight-only int8 (:func:`int8_weights`): every float matrix of a MatMul and the embedding
  tables are stored as int8 with one scale per output channel (symmetric) and a
  DequantizeLinear in front; the computation stays float32 (onnxruntime folds the
  dequantisation at load). A text's scores therefore never depend on the other texts of its
  batch (dynamic activation quantisation would make them do so). Kept only if the full-val
  score stays within ``INT8_TOLERANCE`` of float32; else the float32 file is shipped.
* temperature: NLL on the pooled full val splits; ``uncertain`` thresholds (the face model's
  rules, :mod:`affectlens.eval.abstention`): ``margin`` (the least separated val texts are
  right at most half the time) and ``min_max_logit`` (5th percentile of the top logit).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from affectlens.registry import ModelCfg
from affectlens.train.text import TEXT_LABELS, _scores, fit_temperature, load_split

log = logging.getLogger("affectlens.train.text_transformer")

INT8_TOLERANCE = 0.005
OPSET = 17
LICENCE = (
    "fine-tuned from all-MiniLM-L6-v2 (Apache-2.0, sentence-transformers); trained on GoEmotions "
    "(Apache-2.0), dair-ai emotion (research use) and MELD (GPL-3.0): see MODEL_CARD.md and NOTICE"
)


def export_onnx(best: Path, path: Path) -> dict:
    """Write the float32 ONNX file of ``best.pt``; returns the training config stored in it."""
    import torch

    from affectlens.models.text_transformer import INPUTS, OUTPUTS
    from affectlens.train.minilm import TextClassifier, base_dir

    saved = torch.load(best, weights_only=False)
    config = json.loads((base_dir() / "config.json").read_text())
    model = TextClassifier(config, len(TEXT_LABELS))
    model.load_state_dict(saved["model"])
    model.eval()
    ids = torch.tensor([[101, 7592, 2088, 102, 2129, 102]])
    dummy = (ids, torch.tensor([[0, 0, 0, 0, 1, 1]]), torch.ones_like(ids))
    dyn = {n: {0: "n", 1: "t"} for n in INPUTS} | {n: {0: "n"} for n in OUTPUTS}
    torch.onnx.export(
        model,
        dummy,
        str(path),
        input_names=list(INPUTS),
        output_names=list(OUTPUTS),
        opset_version=OPSET,
        dynamic_axes=dyn,
        dynamo=False,
    )
    return saved["config"]


def _quantize(w: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 with one scale per slice along ``axis``."""
    reduce = tuple(i for i in range(w.ndim) if i != axis)
    scale = np.maximum(np.abs(w).max(axis=reduce), 1e-12) / 127.0
    shape = [1] * w.ndim
    shape[axis] = -1
    q = np.clip(np.round(w / scale.reshape(shape)), -127, 127).astype(np.int8)
    return q, scale.astype(np.float32)


def int8_weights(src: Path, dst: Path, min_size: int = 4096) -> None:
    """Store the float weights of MatMul (per output column) and Gather (per row) as int8 + DQ."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(src))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    axis_of = {}
    for node in graph.node:
        if node.op_type == "MatMul" and node.input[1] in inits:
            axis_of[node.input[1]] = 1
        elif node.op_type == "Gather" and node.input[0] in inits:
            axis_of[node.input[0]] = 0
    new_nodes, replaced = [], {}
    for name, axis in axis_of.items():
        w = numpy_helper.to_array(inits[name])
        if w.dtype != np.float32 or w.ndim != 2 or w.size < min_size:
            continue
        q, scale = _quantize(w, axis)
        graph.initializer.remove(inits[name])
        graph.initializer.extend(
            [
                numpy_helper.from_array(q, f"{name}_q"),
                numpy_helper.from_array(scale, f"{name}_s"),
                numpy_helper.from_array(np.zeros_like(scale, np.int8), f"{name}_z"),
            ]
        )
        new_nodes.append(
            helper.make_node(
                "DequantizeLinear", [f"{name}_q", f"{name}_s", f"{name}_z"], [name], axis=axis, name=f"{name}_dq"
            )
        )
        replaced[name] = q.shape
    for i, node in enumerate(new_nodes):
        graph.node.insert(i, node)
    onnx.checker.check_model(model)
    onnx.save(model, str(dst))
    log.info("int8 weights: %d tensors", len(replaced))


def _cfg(
    name: str,
    onnx_file: str,
    folder: Path,
    train_cfg: dict,
    temperature: float = 1.0,
    thresholds: dict | None = None,
    metrics: dict | None = None,
) -> ModelCfg:
    return ModelCfg(
        name=name,
        kind="text",
        engine="transformer",
        file=onnx_file,
        tokenizer="tokenizer.json",
        max_tokens=int(train_cfg["max_len"]),
        max_text_tokens=int(train_cfg["max_text"]),
        labels=TEXT_LABELS,
        temperature=temperature,
        licence=LICENCE,
        card="MODEL_CARD.md",
        thresholds=thresholds or {},
        metrics=metrics or {},
        folder=str(folder),
        description="English text emotion, 7 labels (no contempt): MiniLM-L6 transformer fine-tuned on "
        "GoEmotions, dair-ai emotion and MELD (dialogue context as second segment), ONNX",
    )


def val_logits(cfg: ModelCfg, va: dict) -> np.ndarray:
    from affectlens.models.text_transformer import TransformerTextModel

    return TransformerTextModel(cfg, check_language=False).forward(va["texts"], va["contexts"])


def _val_score(logits: np.ndarray, va: dict) -> tuple[dict, float]:
    z = logits - logits.max(1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    scores = {str(k): round(float(v), 4) for k, v in _scores(probs, va).items()}
    return scores, float(np.mean(list(scores.values())))


def fit_thresholds(logits: np.ndarray, y: np.ndarray, temperature: float) -> dict:
    """``margin`` and ``min_max_logit`` on val logits (rules in the module doc)."""
    from affectlens.eval.abstention import UNKNOWN_QUANTILE, fit_margin_threshold
    from affectlens.models.expression import softmax
    from affectlens.models.uncertainty import max_logit, top2_margin

    probs = softmax(logits, temperature)
    margin = fit_margin_threshold(top2_margin(probs), probs.argmax(1) == y)
    return {
        "margin": round(margin, 4),
        "min_max_logit": round(float(np.quantile(max_logit(logits), UNKNOWN_QUANTILE)), 4),
        "rules": {
            "margin": "largest top-two margin below which val texts are right <= 50% of the time",
            "min_max_logit": f"{UNKNOWN_QUANTILE:.0%} quantile of the max logit on val texts",
        },
    }


def finish(
    best: Path,
    out: Path,
    root=None,
    ckpt: Path | None = None,
    name: str = "text-minilm-l6",
    default: bool | None = None,
) -> dict:
    """Export, shrink, calibrate and register ``best`` in ``out`` (see the module doc)."""
    from affectlens.train.minilm import base_dir

    work = ckpt or best.parent
    fp32 = work / f"{name}-fp32.onnx"
    train_cfg = export_onnx(best, fp32)
    int8 = work / f"{name}-int8w.onnx"
    int8_weights(fp32, int8)
    shutil.copy(base_dir() / "tokenizer.json", work / "tokenizer.json")
    va = load_split(tuple(train_cfg["datasets"]), "val", root, train_cfg.get("limit", 0))
    results = {}
    for tag, path in (("fp32", fp32), ("int8", int8)):
        logits = val_logits(_cfg(name, path.name, work, train_cfg), va)
        results[tag] = (logits, *_val_score(logits, va))
        log.info("%s val %s mean %.4f", tag, results[tag][1], results[tag][2])
    use = "int8" if results["int8"][2] >= results["fp32"][2] - INT8_TOLERANCE else "fp32"
    logits = results[use][0]
    temperature = fit_temperature(logits, va["y"])
    thresholds = fit_thresholds(logits, va["y"], temperature)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(int8 if use == "int8" else fp32, out / f"{name}.onnx")
    shutil.copy(work / "tokenizer.json", out / "tokenizer.json")
    summary = {
        "train_config": train_cfg,
        "weights": use,
        "temperature": temperature,
        "thresholds": thresholds,
        "val": {tag: {"scores": r[1], "mean": round(r[2], 4)} for tag, r in results.items()},
    }
    history = work / "history.json"
    if history.is_file():
        summary["training"] = json.loads(history.read_text())["state"]
    (out / "training_log.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_models_json(out, _cfg(name, f"{name}.onnx", out, train_cfg, round(temperature, 4), thresholds), default)
    log.info("wrote %s (%s, T=%.3f)", out / f"{name}.onnx", use, temperature)
    return summary


def write_models_json(out: Path, cfg: ModelCfg, default: bool | None = None) -> None:
    """Register ``cfg`` in ``out/models.json``, keeping measured metrics and the default flag."""
    path = out / "models.json"
    old = json.loads(path.read_text()) if path.is_file() else {"models": []}
    metrics = next((m.get("metrics", {}) for m in old["models"] if m["name"] == cfg.name), {})
    entry = {**cfg.to_json(), "metrics": metrics or cfg.metrics}
    not_transformer = ("output", "input_size", "colour", "mean", "std", "template", "flip_tta", "band", "input")
    for key in not_transformer + ("members", "member_weights", "mix"):
        entry.pop(key, None)
    data = {"models": [entry]}
    if default or (default is None and old.get("default") == cfg.name):
        data = {"default": cfg.name, **data}
    path.write_text(json.dumps(data, indent=2) + "\n")
