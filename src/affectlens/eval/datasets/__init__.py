"""Loaders that read labelled face data exactly as its publishers distribute it."""

from affectlens.eval.datasets.base import FaceSet, data_root, load_dataset
from affectlens.eval.datasets.fer2013 import (
    cross_split_twins,
    load_fer2013,
    load_ferplus,
    read_fer2013,
    read_ferplus_votes,
)
from affectlens.eval.datasets.folder import load_folder

__all__ = [
    "FaceSet",
    "cross_split_twins",
    "data_root",
    "load_dataset",
    "load_fer2013",
    "load_ferplus",
    "load_folder",
    "read_fer2013",
    "read_ferplus_votes",
]
