"""Any folder of class subfolders (``folder:PATH``): ``PATH/happy/img1.jpg`` …

Subfolder names are mapped onto canonical labels through common synonyms; an unknown name is an
error that lists the known ones. Images are returned as loaded (RGB); whether they are treated as
ready face crops or passed through detection is the evaluator's ``crop_mode``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from affectlens.eval.datasets.base import DatasetError, FaceSet
from affectlens.io.image import IMAGE_SUFFIXES
from affectlens.labels import CANONICAL, SYNONYMS


class LazyImages:
    """A list-like of image paths that decodes each image when indexed."""

    def __init__(self, paths: list[Path]):
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> np.ndarray:
        from affectlens.io.image import load_image

        return load_image(self.paths[i]).pixels


def load_folder(path: str) -> FaceSet:
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DatasetError(f"folder:{path}: not a folder")
    paths: list[Path] = []
    labels: list[str] = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir()):
        key = sub.name.strip().lower()
        if key not in SYNONYMS:
            raise DatasetError(
                f"folder:{path}: subfolder {sub.name!r} is not a known expression; "
                f"known names: {', '.join(sorted(SYNONYMS))}"
            )
        files = sorted(f for f in sub.rglob("*") if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)
        paths += files
        labels += [SYNONYMS[key]] * len(files)
    if not paths:
        raise DatasetError(f"folder:{path}: no images in class subfolders")
    present = tuple(c for c in CANONICAL if c in set(labels))  # canonical order, present classes only
    return FaceSet(
        name=f"folder:{root.name}",
        split="all",
        images=LazyImages(paths),
        labels=np.array([present.index(lab) for lab in labels], dtype=np.int64),
        label_names=present,
        ids=tuple(str(p) for p in paths),
    )
