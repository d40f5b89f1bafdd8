"""FER2013 (Kaggle ``fer2013.csv[.gz]``) and the FER+ crowd votes (``fer2013new.csv``).

Splits follow the challenge: train = ``Training``, val = ``PublicTest``, test = ``PrivateTest``.

FER+ label rules (stated once, used everywhere). Rows FER+ dropped (empty ``Image name``) are
always excluded. The default is the FER+ publishers' own ``majority`` rule; the other two are
there so that numbers measured under them can be compared:

- ``majority`` (default): single votes are removed as outliers, then the label is the class
  holding more than half of the remaining votes; images whose majority is ``unknown`` or ``NF``
  (not a face), or that have no majority, are excluded. This is the "majority" mode of the FER+
  authors' reference code and the rule behind published FER+ accuracies.
- ``plurality``: the class with the most votes; images whose top count is tied between classes
  or held by ``unknown``/``NF`` are excluded.
- ``argmax``: the class with the most votes, a tie going to the first class in FER+ column
  order (neutral, happiness, surprise, sadness, anger, disgust, fear, contempt); images whose
  top vote is ``unknown``/``NF`` are excluded. The loosest rule: every tied image is kept.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from affectlens.eval.datasets.base import DatasetError, FaceSet, check_split, data_root
from affectlens.labels import CANONICAL, FER2013_LABELS

log = logging.getLogger(__name__)

USAGE = {"train": "Training", "val": "PublicTest", "test": "PrivateTest"}
FERPLUS_COLUMNS = CANONICAL + ("unknown", "NF")
SIDE = 48


def _find(root: Path, names: tuple[str, ...]) -> Path:
    for folder in (root, root / "fer2013"):
        for name in names:
            if (folder / name).is_file():
                return folder / name
    raise DatasetError(f"{' or '.join(names)} not found under {root} (or {root / 'fer2013'})")


def _cache_path(path: Path) -> Path:
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()
    base = Path(os.environ.get("AFFECTLENS_CACHE", Path.home() / ".cache" / "affectlens"))
    return base / f"fer2013-{key[:16]}.npz"


def read_fer2013(root=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read ``fer2013.csv`` or ``.csv.gz``: (emotion int8 (N,), pixels uint8 (N,48,48), usage (N,)).

    The parsed arrays are cached under ``$AFFECTLENS_CACHE`` (default ``~/.cache/affectlens``),
    keyed by the file's path, size and modification time.
    """
    import pandas as pd

    path = _find(data_root(root), ("fer2013.csv", "fer2013.csv.gz"))
    cache = _cache_path(path)
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as z:
            return z["emotion"], z["pixels"], z["usage"]
    try:
        df = pd.read_csv(path, dtype={"emotion": "int16", "pixels": str, "Usage": str})
    except Exception as exc:  # pandas raises many types for malformed files
        raise DatasetError(f"{path}: cannot read as FER2013 csv ({exc})") from exc
    missing = {"emotion", "pixels", "Usage"} - set(df.columns)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {sorted(missing)}; expected emotion,pixels,Usage")
    flat = np.array(" ".join(df["pixels"].tolist()).split(), dtype=np.uint8)
    if flat.size != len(df) * SIDE * SIDE:
        raise DatasetError(f"{path}: pixel count {flat.size} is not {len(df)} rows x {SIDE}x{SIDE}")
    emotion = df["emotion"].to_numpy(np.int8)
    if emotion.min() < 0 or emotion.max() > 6:
        raise DatasetError(f"{path}: emotion values outside 0..6")
    usage = df["Usage"].to_numpy(dtype="U11")
    pixels = flat.reshape(len(df), SIDE, SIDE)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp.npz")
    np.savez(tmp, emotion=emotion, pixels=pixels, usage=usage)
    tmp.replace(cache)
    return emotion, pixels, usage


def read_ferplus_votes(root=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Read ``fer2013new.csv``: (votes int (N, 10) over FERPLUS_COLUMNS, has_name bool, usage)."""
    import pandas as pd

    path = _find(data_root(root), ("fer2013new.csv",))
    try:
        df = pd.read_csv(path, keep_default_na=False)
    except Exception as exc:
        raise DatasetError(f"{path}: cannot read as FER+ csv ({exc})") from exc
    missing = ({"Usage", "Image name"} | set(FERPLUS_COLUMNS)) - set(df.columns)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {sorted(missing)}")
    votes = df[list(FERPLUS_COLUMNS)].to_numpy(np.int16)
    has_name = df["Image name"].astype(str).str.strip().ne("").to_numpy()
    return votes, has_name, df["Usage"].to_numpy(dtype="U11")


FERPLUS_RULES = {
    "majority": "votes of 1 dropped as outliers, then more than half of the remaining votes",
    "plurality": "most votes, ties excluded",
    "argmax": "most votes, ties to the first class",
}


#: The rule of every choice made on FER+ validation labels (model selection, temperatures,
#: abstention thresholds): it keeps more images than the stricter majority rule.
VALIDATION_RULE = "plurality"


def ferplus_labels(votes: np.ndarray, has_name: np.ndarray, rule: str = "majority") -> np.ndarray:
    """Label index into CANONICAL per row under ``rule`` (see module docstring), -1 where excluded."""
    if rule not in FERPLUS_RULES:
        raise DatasetError(f"unknown FER+ label rule {rule!r}; valid: {', '.join(FERPLUS_RULES)}")
    v = np.asarray(votes)
    if rule == "majority":
        v = np.where(v <= 1, 0, v)
    top = v.max(axis=1)
    arg = v.argmax(axis=1)
    ok = has_name & (arg < len(CANONICAL)) & (top > 0)
    if rule == "majority":
        ok &= top > 0.5 * v.sum(axis=1)
    elif rule == "plurality":
        ok &= (v == top[:, None]).sum(axis=1) == 1
    return np.where(ok, arg, -1)


def ferplus_soft(votes: np.ndarray) -> np.ndarray:
    """Vote distribution over the 8 emotions (unknown/NF votes dropped); zeros where none."""
    emo = votes[:, : len(CANONICAL)].astype(np.float32)
    total = emo.sum(axis=1, keepdims=True)
    return np.divide(emo, total, out=np.zeros_like(emo), where=total > 0)


def cross_split_twins(pixels: np.ndarray, usage: np.ndarray) -> np.ndarray:
    """True for every non-Training row whose pixels are identical to some Training row."""
    digests = np.array([hashlib.blake2b(p.tobytes(), digest_size=12).digest() for p in pixels])
    train = set(digests[usage == "Training"].tolist())
    return np.array([(u != "Training") and (d in train) for d, u in zip(digests, usage)])


def _subset(name, split, pixels, labels, label_names, rows, soft=None, excluded=0, note=""):
    return FaceSet(
        name=name,
        split=split,
        images=pixels[rows],
        labels=labels[rows].astype(np.int64),
        label_names=label_names,
        ids=tuple(f"row{r}" for r in rows),
        soft=None if soft is None else soft[rows],
        excluded=excluded,
        note=note,
    )


def _dedup(fs: FaceSet, rows: np.ndarray, twins: np.ndarray, labels, pixels, soft) -> FaceSet:
    keep = rows[~twins[rows]]
    out = _subset(fs.name, fs.split, pixels, labels, fs.label_names, keep, soft, fs.excluded, fs.note)
    return replace(out, removed_duplicates=int(len(rows) - len(keep)))


def load_fer2013(root=None, split: str = "test", dedup: bool = False) -> FaceSet:
    """FER2013 with its original 7 labels (canonical names, FER2013 index order)."""
    check_split(split)
    emotion, pixels, usage = read_fer2013(root)
    rows = np.flatnonzero(usage == USAGE[split])
    fs = _subset("fer2013", split, pixels, emotion, FER2013_LABELS, rows)
    if dedup:
        _require_test_split(split)
        return _dedup(fs, rows, cross_split_twins(pixels, usage), emotion, pixels, None)
    return fs


def load_ferplus(root=None, split: str = "test", dedup: bool = False, rule: str = "majority") -> FaceSet:
    """FER+ labels over the 8 canonical classes under ``rule``, with vote distributions as ``soft``."""
    check_split(split)
    _, pixels, usage = read_fer2013(root)
    votes, has_name, usage_plus = read_ferplus_votes(root)
    if len(votes) != len(pixels) or not np.array_equal(usage, usage_plus):
        raise DatasetError("fer2013new.csv does not match fer2013.csv row for row (row count or Usage)")
    labels = ferplus_labels(votes, has_name, rule)
    in_split = usage == USAGE[split]
    rows = np.flatnonzero(in_split & (labels >= 0))
    excluded = int(in_split.sum() - len(rows))
    note = f"FER+ {rule} rule ({FERPLUS_RULES[rule]}): {excluded} {USAGE[split]} images excluded"
    name = "ferplus" if rule == "majority" else f"ferplus:{rule}"
    fs = _subset(name, split, pixels, labels, CANONICAL, rows, ferplus_soft(votes), excluded, note)
    if dedup:
        _require_test_split(split)
        return _dedup(fs, rows, cross_split_twins(pixels, usage), labels, pixels, ferplus_soft(votes))
    return fs


def _require_test_split(split: str) -> None:
    if split == "train":
        raise DatasetError("--dedup removes evaluation images that also occur in train; use split val or test")
