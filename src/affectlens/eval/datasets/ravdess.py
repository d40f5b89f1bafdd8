"""RAVDESS speech (``Actor_NN/*.wav|flac`` with the original file names), split by actor only.

The file name ``MM-VV-EE-II-SS-RR-AA`` holds the emotion code ``EE`` (01 neutral, 02 calm,
03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08 surprised), the intensity ``II``
(01 normal, 02 strong), the sentence ``SS`` and the actor ``AA`` (odd = male). There is no official split:
evaluation must hold out whole actors (:func:`actor_folds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.eval.datasets.base import DatasetError
from affectlens.models.speech import RAVDESS_CODES, SPEECH_LABELS


@dataclass(frozen=True)
class SpeechSet:
    """Labelled utterances: ``paths``, ``labels`` (indices into ``label_names``), ``actors``
    (1..24) and ``intensity`` (1 normal, 2 strong), all in the same order."""

    name: str
    paths: tuple[str, ...]
    labels: np.ndarray
    label_names: tuple[str, ...]
    actors: np.ndarray
    intensity: np.ndarray

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def statements(self) -> np.ndarray:
        """The sentence of each utterance: 1 "Kids are talking by the door", 2 "Dogs are sitting by the door"."""
        return np.array([int(Path(p).stem.split("-")[4]) for p in self.paths])


def parse_ravdess_name(name: str) -> tuple[str, int, int]:
    """``(voice label, intensity, actor)`` from a RAVDESS file name (with or without suffix)."""
    parts = Path(name).stem.split("-")
    if len(parts) != 7 or parts[2] not in RAVDESS_CODES or not all(p.isdigit() for p in parts):
        raise DatasetError(f"{name}: not a RAVDESS file name (MM-VV-EE-II-SS-RR-AA with emotion EE in 01..08)")
    return RAVDESS_CODES[parts[2]][1], int(parts[3]), int(parts[6])


def load_ravdess(root: str | Path) -> SpeechSet:
    """Every speech utterance under ``root`` (the ``ravdess`` folder holding ``Actor_01..24``)."""
    root = Path(root)
    if (root / "ravdess").is_dir():
        root = root / "ravdess"
    files = sorted(p for p in root.glob("Actor_*/*") if p.suffix.lower() in (".wav", ".flac"))
    if not files:
        raise DatasetError(f"{root}: no RAVDESS Actor_*/*.wav|flac files found")
    labels, intensity, actors = [], [], []
    for f in files:
        label, inten, actor = parse_ravdess_name(f.name)
        labels.append(SPEECH_LABELS.index(label))
        intensity.append(inten)
        actors.append(actor)
    return SpeechSet(
        "ravdess", tuple(map(str, files)), np.array(labels), SPEECH_LABELS, np.array(actors), np.array(intensity)
    )


def actor_folds(actors: np.ndarray, n_folds: int = 6) -> list[np.ndarray]:
    """Held-out actor ids per fold: actors sorted and dealt in consecutive groups
    (6 folds of RAVDESS's 24 actors = 4 actors, 2 male and 2 female, per fold)."""
    ids = np.unique(actors)
    if not 2 <= n_folds <= len(ids):
        raise ValueError(f"n_folds must be in 2..{len(ids)} (the number of actors), got {n_folds}")
    return [np.asarray(a) for a in np.array_split(ids, n_folds)]
