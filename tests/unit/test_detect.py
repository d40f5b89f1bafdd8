"""The YuNet detector's ctypes binding: same faces as the yuface wrapper, no memory growth."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from affectlens.detect import create_detector
from affectlens.detect.yunet import _reference_rows, native_yunet


def _rss_kb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4


@pytest.fixture(scope="module")
def solvay_bgr(photos) -> np.ndarray:
    img = Image.open(photos / "solvay_conference_1927.jpg").convert("RGB")
    img = img.resize((1280, round(1280 * img.height / img.width)), Image.BILINEAR)
    return np.ascontiguousarray(np.asarray(img)[:, :, ::-1])


def test_binding_matches_the_yuface_wrapper(solvay_bgr):
    native = native_yunet()
    assert native is not None, "the ctypes binding to libfacedetection did not load"
    ours, ref = native.raw(solvay_bgr), _reference_rows(solvay_bgr)
    assert len(ref) >= 25
    np.testing.assert_array_equal(ours, ref)


def test_detector_in_worker_threads_gives_the_same_faces(photos):
    rgb = np.asarray(Image.open(photos / "grace_hopper.jpg").convert("RGB"))
    one = create_detector("yunet", max_side=640, threads=1)
    expected = create_detector("yunet", max_side=640).detect(rgb)
    assert len(expected) == 1
    results = []
    workers = [threading.Thread(target=lambda: results.append(one.detect(rgb))) for _ in range(3)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert results == [expected] * 3


@pytest.mark.slow
def test_memory_stays_flat_over_many_detections(photos):
    """yuface.detect leaks ~36 KB per call (400 calls: ~14 MB); the binding must not grow."""
    rgb = np.asarray(Image.open(photos / "grace_hopper.jpg").convert("RGB").resize((160, 187)))
    det = create_detector("yunet", max_side=160, min_side=160, threads=1)
    for _ in range(20):  # warm-up: allocator pools, lazy initialisation
        assert len(det.detect(rgb)) == 1
    before = _rss_kb()
    for _ in range(400):
        det.detect(rgb)
    assert _rss_kb() - before < 3 * 1024


def test_threads_must_be_positive():
    with pytest.raises(ValueError, match="threads"):
        create_detector("yunet", threads=0)
