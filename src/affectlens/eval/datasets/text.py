"""Loaders for the text emotion data sets, read exactly as their publishers distribute them.

Every loader returns a :class:`TextSet` whose labels are already mapped onto the canonical
labels (:data:`affectlens.labels.CANONICAL`) by the tables below; a data-set label without a
canonical equivalent is mapped explicitly and documented here (never dropped silently).

Label map (data-set label -> canonical label):

=================  ================  ==============  ===============
canonical          GoEmotions Ekman  dair-ai emotion MELD
=================  ================  ==============  ===============
neutral            neutral           (none)          neutral
happiness          joy               joy, **love**   joy
surprise           surprise          surprise        surprise
sadness            sadness           sadness         sadness
anger              anger             anger           anger
disgust            disgust           (none)          disgust
fear               fear              fear            fear
contempt           (none)            (none)          (none)
=================  ================  ==============  ===============

* dair-ai ``love`` (8 % of its rows) has no canonical equivalent; it is a positive, warm
  emotion and is mapped to ``happiness``. ``TextSet.source_labels`` keeps the original name
  so an evaluation can still report it separately.
* GoEmotions rows can carry several Ekman groups (about 8 % of the rows): ``labels`` holds the
  first one in ``labels.txt`` order and ``multi`` holds every group of the row.
* MELD is dialogue: ``contexts`` holds the previous utterances of the same dialogue (up to
  ``MELD_CONTEXT`` of them, oldest first, joined by " | "); the other data sets have no context.
* No data set has ``contempt``; text models therefore never predict it (probability 0).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from affectlens.eval.datasets.base import DatasetError, check_split, data_root
from affectlens.labels import CANONICAL

TEXT_DATASETS = ("goemotions", "dair", "meld")

GOEMOTIONS_EKMAN = {
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
    "joy": "happiness",
    "neutral": "neutral",
    "sadness": "sadness",
    "surprise": "surprise",
}
DAIR_EMOTION = {
    "sadness": "sadness",
    "joy": "happiness",
    "love": "happiness",
    "anger": "anger",
    "fear": "fear",
    "surprise": "surprise",
}
MELD_EMOTION = {
    "neutral": "neutral",
    "joy": "happiness",
    "surprise": "surprise",
    "sadness": "sadness",
    "anger": "anger",
    "disgust": "disgust",
    "fear": "fear",
}
#: Every data set's own label -> canonical label (the table in the module doc).
LABEL_MAPS = {"goemotions": GOEMOTIONS_EKMAN, "dair": DAIR_EMOTION, "meld": MELD_EMOTION}

MELD_CONTEXT = 2
CONTEXT_SEP = " | "

_FILES = {
    "goemotions": {
        "train": "goemotions/ekman/train.tsv",
        "val": "goemotions/ekman/dev.tsv",
        "test": "goemotions/ekman/test.tsv",
    },
    "dair": {"train": "dair_emotion/train.txt", "val": "dair_emotion/val.txt", "test": "dair_emotion/test.txt"},
    "meld": {"train": "meld/train_sent_emo.csv", "val": "meld/dev_sent_emo.csv", "test": "meld/test_sent_emo.csv"},
}


@dataclass(frozen=True)
class TextSet:
    """Labelled texts from one split of one data set.

    ``labels`` are indices into ``label_names`` (the canonical labels); ``multi`` (GoEmotions
    only) is a boolean (n, 8) matrix of every canonical label a row carries; ``contexts`` holds
    the preceding dialogue turns ("" when there are none); ``source_labels`` the data set's own
    label name of each row (the first one for multi-label rows).
    """

    name: str
    split: str
    texts: tuple[str, ...]
    contexts: tuple[str, ...]
    labels: np.ndarray
    source_labels: tuple[str, ...]
    ids: tuple[str, ...]
    label_names: tuple[str, ...] = CANONICAL
    multi: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.labels)


def _text_root(root) -> Path:
    base = data_root(root)
    return base / "text" if (base / "text").is_dir() else base


def _file(name: str, split: str, root) -> Path:
    path = _text_root(root) / _FILES[name][check_split(split)]
    if not path.is_file():
        raise DatasetError(f"{name} {split}: {path} not found (expected the publisher's layout under text/)")
    return path


def load_goemotions(root=None, split: str = "test") -> TextSet:
    """GoEmotions, Ekman grouping (``ekman/{train,dev,test}.tsv``; ``val`` reads ``dev``)."""
    path = _file("goemotions", split, root)
    names = (path.parent / "labels.txt").read_text(encoding="utf-8").split()
    texts, labels, source, ids, multi = [], [], [], [], []
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if len(row) != 3:
                raise DatasetError(f"{path}:{n}: expected 3 tab-separated fields, got {len(row)}")
            groups = [names[int(i)] for i in row[1].split(",")]
            canon = [GOEMOTIONS_EKMAN[g] for g in groups]
            texts.append(row[0])
            labels.append(CANONICAL.index(canon[0]))
            source.append(groups[0])
            ids.append(row[2])
            multi.append([c in canon for c in CANONICAL])
    return TextSet(
        "goemotions",
        split,
        tuple(texts),
        ("",) * len(texts),
        np.asarray(labels, np.int64),
        tuple(source),
        tuple(ids),
        multi=np.asarray(multi, bool),
    )


def goemotions_fine_labels(root=None, split: str = "train") -> dict[str, frozenset[str]]:
    """GoEmotions comment id -> its original (28-label) annotations, from ``original/``."""
    ekman = _file("goemotions", split, root)
    path = ekman.parent.parent / "original" / ekman.name
    if not path.is_file():
        raise DatasetError(f"goemotions {split}: {path} not found (the publisher's original/ labels)")
    names = (path.parent / "labels.txt").read_text(encoding="utf-8").split()
    out = {}
    with open(path, encoding="utf-8", newline="") as fh:
        for n, row in enumerate(csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE), 1):
            if len(row) != 3:
                raise DatasetError(f"{path}:{n}: expected 3 tab-separated fields, got {len(row)}")
            out[row[2]] = frozenset(names[int(i)] for i in row[1].split(","))
    return out


def load_dair(root=None, split: str = "test") -> TextSet:
    """dair-ai emotion (``text;label_name`` with a header); ``love`` -> happiness (see module doc)."""
    path = _file("dair", split, root)
    texts, labels, source, ids = [], [], [], []
    with open(path, encoding="utf-8") as fh:
        header = fh.readline().strip()
        if header != "text;label_name":
            raise DatasetError(f"{path}: expected the header 'text;label_name', got {header[:40]!r}")
        for n, line in enumerate(fh, 2):
            text, sep, label = line.rstrip("\n").rpartition(";")
            if not sep or label not in DAIR_EMOTION:
                raise DatasetError(f"{path}:{n}: expected 'text;label' with a label in {sorted(DAIR_EMOTION)}")
            texts.append(text)
            labels.append(CANONICAL.index(DAIR_EMOTION[label]))
            source.append(label)
            ids.append(f"{split}:{n}")
    return TextSet(
        "dair", split, tuple(texts), ("",) * len(texts), np.asarray(labels, np.int64), tuple(source), tuple(ids)
    )


def load_meld(root=None, split: str = "test", context: int = MELD_CONTEXT) -> TextSet:
    """MELD utterances with up to ``context`` previous utterances of the same dialogue."""
    import pandas as pd

    path = _file("meld", split, root)
    frame = pd.read_csv(path, dtype={"Utterance": str}, keep_default_na=False)
    missing = {"Utterance", "Emotion", "Dialogue_ID", "Utterance_ID"} - set(frame.columns)
    if missing:
        raise DatasetError(f"{path}: missing column(s) {sorted(missing)}")
    frame = frame.sort_values(["Dialogue_ID", "Utterance_ID"], kind="stable")
    texts, contexts, labels, source, ids = [], [], [], [], []
    for dialogue, rows in frame.groupby("Dialogue_ID", sort=False):
        turns = rows["Utterance"].tolist()
        for i, (turn, emotion, utt) in enumerate(zip(turns, rows["Emotion"], rows["Utterance_ID"])):
            if emotion not in MELD_EMOTION:
                raise DatasetError(f"{path}: dialogue {dialogue} utterance {utt}: unknown emotion {emotion!r}")
            texts.append(turn)
            contexts.append(CONTEXT_SEP.join(turns[max(0, i - context) : i]) if context else "")
            labels.append(CANONICAL.index(MELD_EMOTION[emotion]))
            source.append(emotion)
            ids.append(f"dia{dialogue}_utt{utt}")
    return TextSet(
        "meld", split, tuple(texts), tuple(contexts), np.asarray(labels, np.int64), tuple(source), tuple(ids)
    )


def load_text_dataset(name: str, split: str = "test", root=None) -> TextSet:
    """Load ``goemotions``, ``dair`` or ``meld`` by name."""
    loaders = {"goemotions": load_goemotions, "dair": load_dair, "meld": load_meld}
    if name not in loaders:
        raise DatasetError(f"unknown text dataset {name!r}; valid: {', '.join(TEXT_DATASETS)}")
    return loaders[name](root=root, split=split)
