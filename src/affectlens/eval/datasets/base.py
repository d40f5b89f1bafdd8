"""The small dataclass every face-data loader returns, and data-root resolution."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SPLITS = ("train", "val", "test")


class DatasetError(ValueError):
    """A data set is missing, malformed or asked for in a way it cannot serve."""


@dataclass(frozen=True)
class FaceSet:
    """Labelled face images from one split of one data set.

    ``images`` is a list-like of uint8 arrays (H, W) grey or (H, W, 3) RGB; ``labels`` holds
    indices into ``label_names``; ``soft`` (optional) holds per-image label distributions over
    ``label_names`` (e.g. FER+ crowd votes); ``ids`` names each image in its source (row number
    or file path). ``removed_duplicates`` counts test images dropped by ``dedup``.
    """

    name: str
    split: str
    images: object
    labels: np.ndarray
    label_names: tuple[str, ...]
    ids: tuple[str, ...]
    soft: np.ndarray | None = None
    removed_duplicates: int = 0
    excluded: int = 0
    note: str = ""

    def __len__(self) -> int:
        return len(self.labels)


def check_split(split: str) -> str:
    if split not in SPLITS:
        raise DatasetError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")
    return split


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data root: ``root`` if given, else ``$AFFECTLENS_DATA``; an error if neither."""
    value = root if root is not None else os.environ.get("AFFECTLENS_DATA")
    if not value:
        raise DatasetError(
            "no data root: pass --data-root DIR or set AFFECTLENS_DATA to the folder that "
            "holds fer2013/ (or the data set files themselves)"
        )
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DatasetError(f"data root {str(path)!r} is not a folder")
    return path


DATASETS = "fer2013, ferplus, ferplus:plurality, ferplus:argmax, folder:PATH"


def load_dataset(spec: str, split: str = "test", root=None, dedup: bool = False) -> FaceSet:
    """Load ``fer2013``, ``ferplus[:RULE]`` (RULE: majority, plurality, argmax) or ``folder:PATH``."""
    from affectlens.eval.datasets.fer2013 import FERPLUS_RULES, load_fer2013, load_ferplus
    from affectlens.eval.datasets.folder import load_folder

    if spec.startswith("folder:"):
        if dedup:
            raise DatasetError("--dedup needs a data set with a training split (fer2013, ferplus)")
        return load_folder(spec[len("folder:") :])
    if spec == "fer2013":
        return load_fer2013(root=root, split=split, dedup=dedup)
    name, _, rule = spec.partition(":")
    if name == "ferplus" and (rule in FERPLUS_RULES or not rule):
        return load_ferplus(root=root, split=split, dedup=dedup, rule=rule or "majority")
    raise DatasetError(f"unknown dataset {spec!r}; valid: {DATASETS}")
