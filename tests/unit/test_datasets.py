"""Loaders on the real FER2013 / FER+ files, the FER+ majority rule, dedup and folder data sets."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
from PIL import Image

from affectlens.eval.datasets import load_dataset, load_fer2013, load_ferplus, load_folder
from affectlens.eval.datasets.base import DatasetError, data_root
from affectlens.eval.datasets.fer2013 import ferplus_labels, ferplus_soft
from affectlens.labels import CANONICAL, FER2013_LABELS, canonical_label


def test_fer2013_rows_per_split(fer):
    emotion, pixels, usage = fer
    assert pixels.shape == (35887, 48, 48) and pixels.dtype == np.uint8
    assert {u: int((usage == u).sum()) for u in ("Training", "PublicTest", "PrivateTest")} == {
        "Training": 28709,
        "PublicTest": 3589,
        "PrivateTest": 3589,
    }


def test_fer2013_labels_map_to_canonical(data_root):
    fs = load_fer2013(data_root, "test")
    assert len(fs) == 3589 and fs.label_names == FER2013_LABELS
    # FER2013 emotion index 3 is "happy" in the Kaggle release
    assert fs.label_names[3] == "happiness" and fs.label_names[6] == "neutral"
    counts = np.bincount(fs.labels, minlength=7)
    assert counts[3] == 879  # PrivateTest happy rows in the published file
    assert set(fs.label_names) <= set(CANONICAL)


def test_ferplus_label_rules_by_hand():
    #            neu hap sur sad ang dis fea con unk NF
    votes = np.array(
        [
            [6, 2, 0, 0, 0, 0, 0, 2, 0, 0],  # neutral under every rule
            [0, 5, 5, 0, 0, 0, 0, 0, 0, 0],  # tie: excluded, except argmax (first class)
            [1, 1, 0, 0, 0, 0, 0, 0, 8, 0],  # unknown -> excluded
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 10],  # not a face -> excluded
            [0, 1, 0, 0, 4, 3, 0, 2, 0, 0],  # anger by plurality; 4 of 9 is no majority
            [4, 1, 1, 1, 1, 1, 1, 0, 0, 0],  # single votes are outliers: 4 of 4 is a majority
            [3, 3, 2, 0, 0, 0, 0, 0, 0, 2],  # no majority, tie -> only argmax keeps it
        ]
    )
    has_name = np.ones(len(votes), dtype=bool)
    assert ferplus_labels(votes, has_name).tolist() == [0, -1, -1, -1, -1, 0, -1]
    assert ferplus_labels(votes, has_name, "plurality").tolist() == [0, -1, -1, -1, 4, 0, -1]
    assert ferplus_labels(votes, has_name, "argmax").tolist() == [0, 1, -1, -1, 4, 0, 0]
    for rule in ("majority", "plurality", "argmax"):
        assert ferplus_labels(votes, ~has_name, rule).tolist() == [-1] * len(votes)
    with pytest.raises(DatasetError, match="valid: majority, plurality, argmax"):
        ferplus_labels(votes, has_name, "mode")
    soft = ferplus_soft(votes)
    np.testing.assert_allclose(soft[0], [0.6, 0.2, 0, 0, 0, 0, 0, 0.2])
    np.testing.assert_allclose(soft[3], 0.0)


@pytest.mark.parametrize(
    "rule, counts",
    [
        ("majority", {"train": 25060, "val": 3199, "test": 3153}),
        ("plurality", {"train": 26940, "val": 3396, "test": 3376}),
        ("argmax", {"train": 28389, "val": 3553, "test": 3546}),
    ],
)
def test_ferplus_splits_and_exclusions(data_root, rule, counts):
    assert {s: len(load_ferplus(data_root, s, rule=rule)) for s in counts} == counts
    fs = load_dataset("ferplus" if rule == "majority" else f"ferplus:{rule}", "test", root=data_root)
    assert fs.excluded == 3589 - counts["test"] and f"FER+ {rule} rule" in fs.note
    assert fs.soft.shape == (counts["test"], 8)
    np.testing.assert_allclose(fs.soft.sum(axis=1), 1.0, atol=1e-6)
    if rule != "argmax":  # the label is the top of the vote distribution
        assert (fs.soft.argmax(axis=1) == fs.labels).all()


def test_dedup_counts(data_root):
    t = load_fer2013(data_root, "test", dedup=True)
    v = load_fer2013(data_root, "val", dedup=True)
    assert t.removed_duplicates + v.removed_duplicates == 568  # the known cross-split twins
    assert (t.removed_duplicates, len(t)) == (288, 3589 - 288)
    fp = load_ferplus(data_root, "test", dedup=True)
    assert (fp.removed_duplicates, len(fp)) == (259, 3153 - 259)
    with pytest.raises(DatasetError, match="split val or test"):
        load_fer2013(data_root, "train", dedup=True)


def test_data_root_errors(tmp_path, monkeypatch):
    monkeypatch.delenv("AFFECTLENS_DATA", raising=False)
    with pytest.raises(DatasetError, match="AFFECTLENS_DATA"):
        data_root(None)
    with pytest.raises(DatasetError, match="fer2013.csv or fer2013.csv.gz not found"):
        load_fer2013(tmp_path, "test")
    with pytest.raises(DatasetError, match="unknown split 'dev'"):
        load_fer2013(tmp_path, "dev")
    with pytest.raises(DatasetError, match="valid: fer2013, ferplus, ferplus:plurality, ferplus:argmax, folder:PATH"):
        load_dataset("affectnet")
    with pytest.raises(DatasetError, match="unknown dataset 'ferplus:mode'"):
        load_dataset("ferplus:mode")


def test_malformed_csv_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AFFECTLENS_CACHE", str(tmp_path / "cache"))
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    with pytest.raises(DatasetError, match="pixel count 3 is not 1 rows x 48x48"):
        load_fer2013(tmp_path, "train")
    (tmp_path / "fer2013.csv").write_text("label,image\n3,1 2 3\n")
    with pytest.raises(DatasetError, match="missing column"):
        load_fer2013(tmp_path, "train")


def test_plain_csv_and_gz_agree(data_root, fer, tmp_path, monkeypatch):
    """A user's uncompressed fer2013.csv reads the same as the .gz (first 300 rows)."""
    monkeypatch.setenv("AFFECTLENS_CACHE", str(tmp_path / "cache"))
    with gzip.open(data_root / "fer2013" / "fer2013.csv.gz", "rt") as src, open(tmp_path / "fer2013.csv", "w") as dst:
        for i, line in enumerate(src):
            if i > 300:
                break
            dst.write(line)
    fs = load_fer2013(tmp_path, "train")
    emotion, pixels, _ = fer
    np.testing.assert_array_equal(fs.images, pixels[:300])
    np.testing.assert_array_equal(fs.labels, emotion[:300])


def test_folder_dataset_synonyms(fer, tmp_path):
    emotion, pixels, _ = fer
    for folder, label in (("Happy", 3), ("angry", 0), ("surprised", 5), ("neutral", 6)):
        (tmp_path / folder).mkdir()
        for r in np.flatnonzero(emotion == label)[:3]:
            Image.fromarray(pixels[r]).save(tmp_path / folder / f"{r}.png")
    fs = load_folder(str(tmp_path))
    assert len(fs) == 12
    names = [fs.label_names[i] for i in fs.labels]
    assert names.count("happiness") == names.count("anger") == names.count("surprise") == 3
    assert fs.images[0].shape == (48, 48, 3)


def test_folder_unknown_class_lists_known(tmp_path):
    (tmp_path / "bored").mkdir()
    with pytest.raises(DatasetError, match="'bored' is not a known expression; known names: .*happy"):
        load_folder(str(tmp_path))
    shutil.rmtree(tmp_path / "bored")
    with pytest.raises(DatasetError, match="no images"):
        load_folder(str(tmp_path))


def test_canonical_label():
    assert canonical_label(" Joy ") == "happiness"
    with pytest.raises(ValueError, match="known names"):
        canonical_label("calm")
