"""Similarity alignment: exact recovery of known transforms and landmarks landing on the template."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from affectlens.align import crop_whole_image, estimate_similarity, invert_affine, warp_face
from affectlens.detect import create_detector
from affectlens.io.image import load_image
from affectlens.registry import get_model_cfg


def test_recovers_known_similarity():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 100, size=(5, 2))
    angle, scale, t = 0.3, 0.7, np.array([5.0, -3.0])
    rot = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = src @ rot.T + t
    m = estimate_similarity(src, dst)
    np.testing.assert_allclose(m[:, :2], rot, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)
    inv = invert_affine(m)
    np.testing.assert_allclose(dst @ inv[:, :2].T + inv[:, 2], src, atol=1e-9)


def test_degenerate_landmarks_are_an_error():
    with pytest.raises(ValueError, match="one point"):
        estimate_similarity(np.ones((5, 2)), np.random.default_rng(0).uniform(size=(5, 2)))


def test_real_face_lands_on_template(photos):
    cfg = get_model_cfg()
    rgb = load_image(photos / "grace_hopper.jpg").pixels
    face = create_detector("yunet").detect(rgb)[0]
    crop, m = warp_face(rgb, face.landmark_array(), cfg.template, cfg.input_size, cfg.colour)
    assert crop.shape == (cfg.input_size, cfg.input_size) and crop.dtype == np.uint8
    mapped = face.landmark_array() @ m[:, :2].T + m[:, 2]
    # a least-squares similarity of a real face: each landmark within 12% of the crop side
    assert np.abs(mapped - np.asarray(cfg.template)).max() < 0.12 * cfg.input_size
    # detecting again on the upscaled crop finds the face where the template says
    k = 4
    big = np.asarray(Image.fromarray(crop).resize((cfg.input_size * k,) * 2, Image.BICUBIC).convert("RGB"))
    again = create_detector("yunet", score_threshold=0.5).detect(big)
    assert again, "no face found in the aligned crop"
    np.testing.assert_allclose(again[0].landmark_array() / k, np.asarray(cfg.template), atol=0.12 * cfg.input_size)


def test_whole_image_crop(photos):
    rgb = load_image(photos / "newton.png").pixels
    assert crop_whole_image(rgb, 48, "gray").shape == (48, 48)
    assert crop_whole_image(rgb, 64, "rgb").shape == (64, 64, 3)
    with pytest.raises(ValueError, match="valid: gray, rgb"):
        crop_whole_image(rgb, 48, "bgr")


def test_reducing_first_gives_the_same_crop_of_a_large_face(photos):
    """The mesh crop of a large face (Gauss, a 280x360 px box: a 2-pixel box filter) made by
    reducing the window first is the supersampled crop to within about a grey level, and the
    mesh fitted on it lands in the same place; a small face (no filter) is unchanged."""
    from affectlens.align.warp import warp_window
    from affectlens.models import landmarks as lm

    mesh = lm.FaceMesh()
    for name, filtered in (("gauss.png", True), ("solvay_conference_1927.jpg", False)):
        rgb = load_image(photos / name).pixels
        face = create_detector("yunet").detect(rgb)[0]
        m = lm.mesh_roi(face)
        a = np.asarray(warp_window(rgb, m, lm.MESH_INPUT), dtype=np.float64)
        b = np.asarray(warp_window(rgb, m, lm.MESH_INPUT, reduce_first=True), dtype=np.float64)
        if not filtered:
            np.testing.assert_array_equal(a, b)
            continue
        assert face.size > 250
        assert np.abs(a - b).mean() < 1.5
        pa, _ = mesh.forward(a / 255.0)
        pb, _ = mesh.forward(b / 255.0)
        assert np.median(np.abs(pa[:, :2] - pb[:, :2])) < 0.01 * lm.MESH_INPUT
