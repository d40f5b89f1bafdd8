"""Tracker and smoother on real faces: appearance from aligned crops of the Solvay photo."""

from __future__ import annotations

import numpy as np
import pytest

from affectlens import Analyzer, Options
from affectlens.detect.base import iou_matrix
from affectlens.pipeline.smoothing import Smoother, SmoothingOptions
from affectlens.pipeline.tracking import ShotCutDetector, Tracker, TrackerOptions, appearance


@pytest.fixture(scope="module")
def solvay_faces(photos):
    """(boxes (N, 4), descriptors (N, D)) of the real faces in the group photo."""
    from affectlens.io.image import load_image

    an = Analyzer(Options())
    rgb = load_image(photos / "solvay_conference_1927.jpg").pixels
    faces, _ = an.detect(rgb)
    crops = an.align(rgb, faces)
    return np.array([f.box for f in faces]), appearance(crops)


def moved(box, dx, dy=0.0):
    return np.array([box[0] + dx, box[1] + dy, box[2], box[3]])


def test_appearance_tells_people_apart(solvay_faces):
    _, desc = solvay_faces
    sim = desc @ desc.T
    assert np.allclose(np.diag(sim), 1.0, atol=1e-4)
    off = sim[~np.eye(len(sim), dtype=bool)]
    assert np.median(off) < 0.9  # different people are less alike than one with itself


def test_ids_follow_moving_faces_and_never_repeat_in_a_frame(solvay_faces):
    boxes, desc = solvay_faces
    tr = Tracker()
    first = tr.update(boxes[:5], desc[:5], 0.0)
    assert first == [0, 1, 2, 3, 4]
    for k in range(1, 10):  # everyone drifts right, listed in a shuffled order
        order = np.random.default_rng(k).permutation(5)
        ids = tr.update([moved(b, 4 * k) for b in boxes[:5][order]], desc[:5][order], k * 40.0)
        assert ids == [first[i] for i in order]
        assert len(set(ids)) == len(ids)


def test_two_faces_crossing_keep_their_ids(solvay_faces):
    _, desc = solvay_faces
    a0, b0 = np.array([0.0, 100, 80, 80]), np.array([400.0, 130, 80, 80])
    tr = Tracker()
    ida, idb = tr.update([a0, b0], desc[[0, 1]], 0.0)
    for k in range(1, 21):  # a moves right, b left; they overlap around k = 10
        a, b = moved(a0, 20 * k), moved(b0, -20 * k)
        if 9 <= k <= 11:  # b hides a for three frames
            assert tr.update([b], desc[[1]], k * 40.0) == [idb]
            continue
        assert tr.update([b, a], desc[[1, 0]], k * 40.0) == [idb, ida]


def test_short_miss_survives_long_miss_gets_new_id(solvay_faces):
    boxes, desc = solvay_faces
    tr = Tracker(TrackerOptions(max_age_ms=500))
    (tid,) = tr.update(boxes[:1], desc[:1], 0.0)
    assert tr.update(np.zeros((0, 4)), np.zeros((0, desc.shape[1])), 200.0) == []
    assert tr.update(boxes[:1], desc[:1], 400.0) == [tid]  # missed once, within max age
    assert tr.update(boxes[:1], desc[:1], 1500.0) != [tid]  # gone longer than max age: new id


def test_a_different_face_in_the_same_place_is_a_new_track(solvay_faces):
    boxes, desc = solvay_faces
    sim = desc @ desc.T
    i, j = np.unravel_index(np.argmin(sim), sim.shape)  # the two least alike faces
    tr = Tracker()
    (a,) = tr.update(boxes[[i]], desc[[i]], 0.0)
    (b,) = tr.update(boxes[[i]], desc[[j]], 40.0)
    assert a != b


def test_reset_and_increasing_time(solvay_faces):
    boxes, desc = solvay_faces
    tr = Tracker()
    tr.update(boxes[:3], desc[:3], 10.0)
    with pytest.raises(ValueError, match="increasing"):
        tr.update(boxes[:3], desc[:3], 10.0)
    tr.reset()
    assert tr.update(boxes[:2], desc[:2], 0.0) == [0, 1] and tr.active == [0, 1]


def test_iou():
    a = np.array([[0, 0, 10, 10]], float)
    b = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 5, 5]], float)
    np.testing.assert_allclose(iou_matrix(a, b), [[1.0, 50 / 150, 0.0]])


def test_options_are_validated():
    with pytest.raises(ValueError, match="max_age_ms"):
        TrackerOptions(max_age_ms=-1)
    with pytest.raises(ValueError, match="valid: none, ema, oneeuro"):
        SmoothingOptions(method="kalman")


def test_shot_cut_detector(photos):
    from affectlens.io.image import load_image

    rgb = load_image(photos / "astronaut.png").pixels
    other = load_image(photos / "grace_hopper.jpg").pixels
    cuts = ShotCutDetector()
    assert not cuts.is_cut(rgb)
    assert not cuts.is_cut(np.roll(rgb, 5, axis=1))  # small motion
    assert cuts.is_cut(other)
    cuts.reset()
    assert not cuts.is_cut(rgb)


# -- smoothing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["ema", "oneeuro"])
def test_smoothing_reduces_noise_and_sums_to_one(method):
    rng = np.random.default_rng(0)
    truth = np.array([0.7, 0.2, 0.1])
    sm = Smoother(SmoothingOptions(method=method))
    raw, out = [], []
    for k in range(100):
        p = np.clip(truth + rng.normal(0, 0.08, 3), 0.01, None)
        p /= p.sum()
        raw.append(p)
        out.append(sm.update(7, k * 33.3, p))
    assert all(abs(o.sum() - 1) < 1e-9 for o in out)
    assert np.std(np.array(out)[20:, 0]) < 0.7 * np.std(np.array(raw)[20:, 0])
    assert abs(np.mean(np.array(out)[20:, 0]) - 0.7) < 0.05


def test_smoothing_none_and_reset_and_tracks_are_separate():
    p, q = np.array([0.9, 0.1]), np.array([0.1, 0.9])
    none = Smoother(SmoothingOptions(method="none"))
    none.update(0, 0.0, p)
    np.testing.assert_allclose(none.update(0, 40.0, q), q)
    sm = Smoother(SmoothingOptions(method="ema", ema_ms=200))
    sm.update(0, 0.0, p)
    sm.update(1, 0.0, q)
    assert sm.update(0, 40.0, q)[0] > 0.5  # track 0 remembers p; track 1 does not disturb it
    sm.reset()
    np.testing.assert_allclose(sm.update(0, 0.0, q), q)  # fresh after reset (time may restart)
    with pytest.raises(ValueError, match="increasing"):
        sm.update(0, 0.0, q)


def test_one_row_or_column_assignment_equals_scipy(solvay_faces):
    """The tracker's shortcut for one track or one face (no scipy import) picks what
    ``linear_sum_assignment`` picks, on the tracker's own costs between real faces."""
    from scipy.optimize import linear_sum_assignment

    from affectlens.pipeline.tracking import _assign

    boxes, desc = solvay_faces
    tracker = Tracker()
    tracker.update(boxes[:1], desc[:1], 0.0)
    one_track = tracker.cost(boxes + 3.0, desc, 33.0)  # 1 track x N faces
    tracker = Tracker()
    tracker.update(boxes, desc, 0.0)
    one_face = tracker.cost(boxes[4:5] + 3.0, desc[4:5], 33.0)  # N tracks x 1 face
    assert one_track.shape == (1, len(boxes)) and one_face.shape == (len(boxes), 1)
    for cost in (one_track, one_face, one_track[:, :0]):
        rows, cols = linear_sum_assignment(cost)
        assert _assign(cost) == list(zip(rows.tolist(), cols.tolist()))
    assert _assign(one_track) == [(0, 0)] and _assign(one_face) == [(4, 0)]
