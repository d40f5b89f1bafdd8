"""The training loop: resumable, seeded, with EMA weights and per-epoch validation on PublicTest.

PrivateTest is never read here; it is reserved for the final report (``affectlens eval``).
"""

from __future__ import annotations

import copy
import json
import logging
import math
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

from affectlens.eval.datasets.fer2013 import (
    USAGE,
    VALIDATION_RULE,
    ferplus_labels,
    ferplus_soft,
    read_fer2013,
    read_ferplus_votes,
)
from affectlens.labels import CANONICAL, FER2013_LABELS
from affectlens.train.config import TrainConfig, model_file

log = logging.getLogger(__name__)

MEAN, STD = 127.5, 128.0  # pixel normalisation (0..255 units), stored in the model config


def _torch():
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "training needs the [train] extra: pip install 'affectlens[train]' (CPU torch: pip install torch==2.13.0)"
        ) from exc
    return torch


class FerData:
    """FER2013 pixels with both label sets: 7 FER2013 classes and FER+ vote distributions."""

    def __init__(self, root, split: str, limit: int = 0):
        emotion, pixels, usage = read_fer2013(root)
        votes, has_name, _ = read_ferplus_votes(root)
        rows = np.flatnonzero(usage == USAGE[split])
        if limit:
            rows = rows[:limit]
        nf = votes[:, -1]
        self.pixels = pixels[rows]
        self.fer2013 = emotion[rows].astype(np.int64)
        self.soft = ferplus_soft(votes)[rows]
        self.soft_ok = (has_name & (self.soft_total(votes) > 0) & (nf < votes.max(axis=1)))[rows]
        self.majority = ferplus_labels(votes, has_name, VALIDATION_RULE)[rows]

    @staticmethod
    def soft_total(votes):
        return votes[:, :8].sum(axis=1)

    def __len__(self) -> int:
        return len(self.pixels)


def lr_at(step: int, total: int, warmup: int, base: float) -> float:
    if step < warmup:
        return base * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def normalise(torch, x_uint8):
    return (x_uint8.float() - MEAN) / STD


def evaluate(model, data: FerData, batch: int = 256) -> dict:
    torch = _torch()
    model.eval()
    p8, p7 = [], []
    with torch.no_grad():
        for i in range(0, len(data), batch):
            x = normalise(torch, torch.from_numpy(data.pixels[i : i + batch])[:, None])
            a, b = model(x)
            p8.append(a.argmax(1).numpy())
            p7.append(b.argmax(1).numpy())
    p8, p7 = np.concatenate(p8), np.concatenate(p7)
    from sklearn.metrics import f1_score

    ok = data.majority >= 0
    return {
        "ferplus_acc": float((p8[ok] == data.majority[ok]).mean()) if ok.any() else float("nan"),
        "ferplus_macro_f1": float(f1_score(data.majority[ok], p8[ok], average="macro")) if ok.any() else float("nan"),
        "fer2013_acc": float((p7 == data.fer2013).mean()),
        "fer2013_macro_f1": float(f1_score(data.fer2013, p7, average="macro")),
    }


def class_weights(counts: np.ndarray, power: float) -> np.ndarray:
    """(mean count / count) ** power per class; 1 everywhere when ``power`` is 0."""
    counts = np.maximum(np.asarray(counts, np.float64), 1.0)
    return (counts.mean() / counts) ** power


def fused_targets(data: FerData, fuse: float) -> np.ndarray:
    """FER+ vote distributions mixed with the FER2013 label (mapped to the 8 classes) at weight ``fuse``."""
    to8 = np.array([CANONICAL.index(label) for label in FER2013_LABELS])
    onehot = np.eye(len(CANONICAL), dtype=np.float32)[to8[data.fer2013]]
    return ((1 - fuse) * data.soft + fuse * onehot).astype(np.float32)


class OnnxTeacher:
    """Networks to distil from: ONNX exports of this network (shipped files, float32 or int8),
    run with onnxruntime; :meth:`__call__` gives the mean of their logits on a normalised batch."""

    def __init__(self, paths, threads: int):
        from affectlens.models.runtime import onnx_session

        self.sessions = [onnx_session(p, threads) for p in paths]

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(FER+ logits (N, 8), FER2013 logits (N, 7)) averaged over the teachers."""
        outs = [s.run(["ferplus_logits", "fer2013_logits"], {s.get_inputs()[0].name: x}) for s in self.sessions]
        return np.mean([o[0] for o in outs], axis=0), np.mean([o[1] for o in outs], axis=0)


def _ema_update(ema, model, decay: float) -> None:
    with _torch().no_grad():
        for e, p in zip(ema.state_dict().values(), model.state_dict().values()):
            if e.dtype.is_floating_point:
                e.mul_(decay).add_(p.detach(), alpha=1 - decay)
            else:
                e.copy_(p)


def train(cfg: TrainConfig, root, out: Path, progress: bool | None = None) -> Path:
    """Train (or resume) into ``out``; returns the path of the best checkpoint."""
    torch = _torch()
    import torch.nn.functional as F
    from tqdm.auto import tqdm

    from affectlens.train.augment import augment_views
    from affectlens.train.model import ExpressionNet, freeze_batch_norm

    out = Path(out)
    # the recipe's ONNX files first: a wrong path fails before minutes of data loading
    init_onnx = model_file(cfg.init_onnx, "init_onnx") if cfg.init_onnx else None
    teachers = [model_file(t, "teacher_onnx") for t in cfg.teacher_onnx] if cfg.distill_weight else []
    out.mkdir(parents=True, exist_ok=True)
    cfg.save(out / "config.json")
    torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    train_set = FerData(root, "train", cfg.limit_train)
    val_set = FerData(root, "val", cfg.limit_val)
    model = ExpressionNet(cfg.net_size, cfg.dropout, cfg.pretrained and not cfg.init_onnx)
    if init_onnx:
        model.load_folded_onnx(init_onnx)
    model = model.to(memory_format=torch.channels_last)
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / cfg.batch_size)
    total, warmup = steps_per_epoch * cfg.epochs, int(steps_per_epoch * cfg.warmup_epochs)
    start_epoch, best, step = 0, -1.0, 0
    last = out / "last.pt"
    if last.is_file():
        state = torch.load(last, weights_only=False)
        model.load_state_dict(state["model"])
        ema.load_state_dict(state["ema"])
        opt.load_state_dict(state["opt"])
        start_epoch, best, step = state["epoch"] + 1, state["best"], state["step"]
        log.info("resuming from %s at epoch %d", last, start_epoch)
    pixels = torch.from_numpy(train_set.pixels)[:, None]
    soft_np = fused_targets(train_set, cfg.fuse_fer2013)
    soft = torch.from_numpy(soft_np)
    w8 = torch.from_numpy(class_weights(soft_np[train_set.soft_ok].sum(0), cfg.class_weight_power).astype(np.float32))
    w7 = torch.from_numpy(
        class_weights(np.bincount(train_set.fer2013, minlength=len(FER2013_LABELS)), cfg.class_weight_power).astype(
            np.float32
        )
    )
    soft_ok = torch.from_numpy(train_set.soft_ok)
    hard8 = torch.from_numpy(np.where(train_set.majority >= 0, train_set.majority, 0))
    hard8_ok = torch.from_numpy(train_set.majority >= 0)
    y7 = torch.from_numpy(train_set.fer2013)
    teacher = OnnxTeacher(teachers, cfg.threads) if teachers else None
    show = sys.stderr.isatty() if progress is None else progress
    for epoch in range(start_epoch, cfg.epochs):
        g = torch.Generator().manual_seed(cfg.seed * 1000 + epoch)
        order = torch.randperm(len(train_set), generator=g)
        model.train()
        if cfg.init_onnx:
            freeze_batch_norm(model)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{cfg.epochs}", disable=not show, leave=False)
        running = 0.0
        for b in bar:
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            clean, x = augment_views(pixels[idx].float() / 255.0, g, cfg)
            x = ((x * 255.0 - MEAN) / STD).contiguous(memory_format=torch.channels_last)
            if teacher is not None:  # the teachers see the faces before occlusion and degradation
                t8, t7 = teacher(((clean * 255.0 - MEAN) / STD).contiguous().numpy())
                t8, t7 = F.softmax(torch.from_numpy(t8), 1), F.softmax(torch.from_numpy(t7), 1)
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, warmup, cfg.lr)
            out8, out7 = model(x)
            if cfg.soft_labels:
                target = soft[idx]
                if teacher is not None:
                    target = (1 - cfg.distill_weight) * target + cfg.distill_weight * t8
                mask = soft_ok[idx] * (target * w8).sum(1)
                l8 = -(target * F.log_softmax(out8, 1)).sum(1)
            else:
                mask = hard8_ok[idx] * w8[hard8[idx]]
                l8 = F.cross_entropy(out8, hard8[idx], reduction="none", label_smoothing=cfg.label_smoothing)
            l8 = (l8 * mask).sum() / mask.sum().clamp(min=1e-6)
            l7 = F.cross_entropy(out7, y7[idx], label_smoothing=cfg.label_smoothing, reduction="none")
            if teacher is not None:
                distil7 = -(t7 * F.log_softmax(out7, 1)).sum(1)
                l7 = (1 - cfg.distill_weight) * l7 + cfg.distill_weight * distil7
            l7 = (l7 * w7[y7[idx]]).sum() / w7[y7[idx]].sum()
            loss = l8 + cfg.fer2013_weight * l7
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            _ema_update(ema, model, min(cfg.ema_decay, (1 + step) / (10 + step)))
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if b else loss.item()
            bar.set_postfix(loss=f"{running:.3f}")
        metrics = {"epoch": epoch + 1, "loss": running, **evaluate(ema, val_set)}
        score = metrics["ferplus_acc"] + metrics["fer2013_acc"]
        if cfg.class_weight_power:  # a class-balanced recipe is selected for balance too
            score += metrics["ferplus_macro_f1"] + metrics["fer2013_macro_f1"]
        log.info("epoch %d: %s", epoch + 1, json.dumps(metrics))
        with open(out / "metrics.jsonl", "a") as fh:
            fh.write(json.dumps(metrics) + "\n")
        state = {
            "model": model.state_dict(),
            "ema": ema.state_dict(),
            "opt": opt.state_dict(),
            "epoch": epoch,
            "best": max(best, score),
            "step": step,
            "config": asdict(cfg),
        }
        if score > best:
            best = score
            torch.save(
                {"ema": ema.state_dict(), "epoch": epoch, "metrics": metrics, "config": asdict(cfg)}, out / "best.pt"
            )
        torch.save(state, out / "last.tmp")
        (out / "last.tmp").replace(last)
    return out / "best.pt"
