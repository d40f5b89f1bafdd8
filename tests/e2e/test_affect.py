"""Valence/arousal, confidence, abstention, compound labels, explanations and the eval report on real data."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from PIL import Image

import affectlens
from affectlens.cli import main
from affectlens.labels import CANONICAL
from affectlens.models.uncertainty import REASONS, Thresholds
from affectlens.registry import get_model_cfg


def _ferplus_rows(data_root, label: str, n: int) -> np.ndarray:
    from affectlens.eval.datasets import load_ferplus

    fs = load_ferplus(data_root, "test")
    return np.asarray(fs.images)[fs.labels == CANONICAL.index(label)][:n]


def _faces(images):
    return [affectlens.analyze(np.repeat(g[:, :, None], 3, axis=2), crop_mode="face").faces[0] for g in images]


def test_valence_sign_on_real_happy_and_sad_test_faces(data_root):
    happy = [f.affect.valence for f in _faces(_ferplus_rows(data_root, "happiness", 30))]
    sad = [f.affect.valence for f in _faces(_ferplus_rows(data_root, "sadness", 30))]
    assert np.mean(happy) > 0.3 and np.mean(sad) < -0.1
    for f in _faces(_ferplus_rows(data_root, "surprise", 5)):
        assert -1 <= f.affect.valence <= 1 and -1 <= f.affect.arousal <= 1


def test_fields_on_a_real_photo_and_in_tables(photos, tmp_path):
    result = affectlens.analyze(photos / "astronaut.png")
    face = result.faces[0]
    a = face.affect
    assert a.confidence == pytest.approx(face.expression.top_prob)
    assert a.valence > 0.5 and not a.uncertain and a.uncertain_reason == "" and a.compound == "happiness"
    df = affectlens.to_dataframe(result)
    for col in ("valence", "arousal", "confidence", "uncertain", "uncertain_reason", "compound"):
        assert col in df.columns
    assert df["uncertain"].dtype == "boolean" and df.loc[0, "compound"] == "happiness"


def test_thresholds_are_stored_with_the_model():
    for name in ("ferplus-lite0", "fer2013-lite0"):
        t = Thresholds.from_config(get_model_cfg(name).thresholds)
        assert None not in (
            t.margin,
            t.min_face_px,
            t.max_yaw_deg,
            t.eyes_energy,
            t.mouth_energy,
            t.eyes_texture,
            t.mouth_texture,
            t.min_max_logit,
            t.compound_margin,
        ), name
        assert "rules" in get_model_cfg(name).thresholds


def test_tiny_face_is_uncertain(photos):
    img = Image.open(photos / "grace_hopper.jpg").convert("RGB")
    t = Thresholds.from_config(get_model_cfg().thresholds)
    big = affectlens.analyze(img).faces[0]
    assert "small face" not in big.affect.uncertain_reason
    scale = (t.min_face_px - 4) / big.face.size  # the face a few pixels under the threshold
    small = img.resize((round(img.width * scale), round(img.height * scale)), Image.BOX)
    faces = affectlens.analyze(small, min_face=4).faces
    assert faces and faces[0].face.size < t.min_face_px
    assert faces[0].affect.uncertain and "small face" in faces[0].affect.uncertain_reason.split(";")


def test_half_covered_face_is_uncertain(photos):
    rgb = np.asarray(Image.open(photos / "grace_hopper.jpg").convert("RGB")).copy()
    clean = affectlens.analyze(rgb).faces[0]
    assert not clean.affect.uncertain
    lm = clean.face.landmark_array()
    x, y, w, h = clean.face.box
    # from the nose tip down, mouth and chin covered by a piece of the photo's own background
    # (the top-left corner), like an object held in front of the face
    rows, cols = slice(int(lm[2, 1]), int(y + h) + 10), slice(int(x) - 10, int(x + w) + 10)
    patch = rgb[: rows.stop - rows.start, : cols.stop - cols.start].copy()
    rgb[rows, cols] = patch
    covered = affectlens.analyze(rgb).faces
    assert covered, "the detector still finds the half-covered face"
    assert covered[0].affect.uncertain and "occluded" in covered[0].affect.uncertain_reason.split(";")


@pytest.mark.parametrize("name", ["grace_hopper.jpg", "astronaut.png"])
@pytest.mark.parametrize("part", ["mouth", "eyes"])
def test_plain_cover_over_mouth_or_eyes_is_occluded(photos, name, part):
    rgb = np.asarray(Image.open(photos / name).convert("RGB")).copy()
    clean = affectlens.analyze(rgb).faces[0]
    assert "occluded" not in clean.affect.uncertain_reason
    lm = clean.face.landmark_array()
    x, y, w, h = clean.face.box
    eye_y, nose_y = lm[:2, 1].mean(), lm[2, 1]
    if part == "mouth":  # a skin-coloured cover from the nose tip down, like a scarf
        rows = slice(int(nose_y), int(y + h) + 10)
    else:  # a band over the eyes, like dark glasses
        rows = slice(int(eye_y - 0.3 * (nose_y - eye_y) - 0.1 * h), int(eye_y + 0.45 * (nose_y - eye_y)))
    rgb[rows, int(x) - 10 : int(x + w) + 10] = (90, 60, 50)
    covered = affectlens.analyze(rgb).faces
    assert covered, "the detector still finds the covered face"
    assert "occluded" in covered[0].affect.uncertain_reason.split(";")


#: FER2013 PrivateTest rows showing faces turned well away from the camera (profiles and
#: three-quarter views, checked by eye), found among the first 200 test rows by their yaw.
TURNED_ROWS = (32367, 32317, 32489, 32311, 32370, 32481, 32423)


@pytest.mark.slow
def test_turned_faces_are_uncertain_and_frontal_ones_are_not(fer, photos):
    from affectlens.models.uncertainty import yaw_from_landmarks

    _, pixels, _ = fer
    t = Thresholds.from_config(get_model_cfg().thresholds)
    for row in TURNED_ROWS:
        faces = affectlens.analyze(np.repeat(pixels[row][:, :, None], 3, axis=2)).faces
        assert faces, row
        assert abs(yaw_from_landmarks(faces[0].face.landmarks)) > t.max_yaw_deg, row
        assert "turned" in faces[0].affect.uncertain_reason.split(";"), row
    for name in ("astronaut.png", "grace_hopper.jpg", "solvay_conference_1927.jpg"):
        for f in affectlens.analyze(photos / name).faces:  # frontal or slightly turned portraits
            assert "turned" not in f.affect.uncertain_reason, (name, f.index)


def test_reasons_and_compound_format_on_real_test_faces(data_root):
    from affectlens.eval.datasets import load_ferplus

    fs = load_ferplus(data_root, "test")
    faces = _faces(np.asarray(fs.images)[:80])
    margin = Thresholds.from_config(get_model_cfg().thresholds).compound_margin
    pattern = re.compile(rf"^({'|'.join(CANONICAL)})(\+({'|'.join(CANONICAL)}))?$")
    compounds = 0
    for f in faces:
        assert pattern.match(f.affect.compound), f.affect.compound
        ranked = sorted(f.expression.as_dict().items(), key=lambda kv: -kv[1])
        if "+" in f.affect.compound:
            compounds += 1
            assert f.affect.compound == f"{ranked[0][0]}+{ranked[1][0]}" and ranked[0][1] - ranked[1][1] < margin
        else:
            assert f.affect.compound == ranked[0][0]
        reasons = f.affect.uncertain_reason.split(";") if f.affect.uncertain_reason else []
        assert f.affect.uncertain == bool(reasons) and set(reasons) <= set(REASONS)
    assert compounds > 0


@pytest.mark.slow
def test_eval_json_has_calibration_and_risk_coverage(data_root, tmp_path, capsys):
    from affectlens.eval.datasets import load_ferplus

    fs = load_ferplus(data_root, "test")
    images = np.asarray(fs.images)
    for i in range(240):  # a folder data set of real FER+ test faces
        folder = tmp_path / CANONICAL[fs.labels[i]]
        folder.mkdir(exist_ok=True)
        Image.fromarray(images[i]).save(folder / f"{i}.png")
    assert main(["eval", "--dataset", f"folder:{tmp_path}", "--json"]) == 0
    rep = json.loads(capsys.readouterr().out)
    assert [e["coverage"] for e in rep["risk_coverage"]] == [0.5, 0.8, 1.0]
    assert rep["risk_coverage"][-1]["accuracy"] == pytest.approx(rep["accuracy"])
    assert rep["risk_coverage"][0]["accuracy"] >= rep["risk_coverage"][-1]["accuracy"]
    assert rep["temperature"] == get_model_cfg().temperature and 0 <= rep["ece_uncalibrated"] <= 1
    ab = rep["abstention"]
    assert 0 < ab["coverage"] < 1 and ab["accuracy"] >= rep["accuracy"] and set(ab["reason_rates"]) == set(REASONS)


def test_explain_writes_heatmaps_and_numbers(photos, tmp_path):
    out = tmp_path / "explain"
    assert main(["analyze", str(photos / "astronaut.png"), "--explain", str(out), "-q"]) == 0
    png, side = out / "astronaut_face0.png", out / "astronaut_face0.json"
    from affectlens.viz.explain import FACE_SIDE, FACE_TOP

    w, h = Image.open(png).size  # the face, with a title above and a colour bar beside it
    assert w > FACE_SIDE and h > FACE_TOP + FACE_SIDE
    d = json.loads(side.read_text())
    assert d["colour_scale"] == {"units": "probability drop", "min": 0.0, "max": 0.5, "same_for_all_faces": True}
    assert d["label"] == "happiness" and d["heatmap"] == png.name
    record = affectlens.analyze(photos / "astronaut.png").faces[0]
    assert d["rationale"] == record.rationale  # the record's own AU rationale, never other text
    if affectlens.Analyzer().face_mesh is not None:  # the packaged face mesh: AU6 + AU12 drive the smile
        assert d["rationale"].endswith("-> happiness") and "AU12" in d["rationale"]
    assert np.asarray(d["drop_grid"]).shape == (len(d["positions"]), len(d["positions"]))
    assert d["mean_drop_mouth_region"] > d["mean_drop_eyes_region"]  # the smile drives "happiness"

    expl = affectlens.Analyzer().explain(photos / "astronaut.png")
    assert len(expl) == 1 and expl[0].heat.shape == (48, 48) and expl[0].label == "happiness"


def test_rationale_of_the_record_is_carried_not_invented(photos):
    from affectlens.models.explain import occlusion_sensitivity
    from affectlens.viz.explain import explanation_record

    an = affectlens.Analyzer()
    rgb = np.asarray(Image.open(photos / "astronaut.png").convert("RGB"))
    res = an.analyze(rgb)
    crop = an.align(rgb, [res.faces[0].face])[0]
    expl = occlusion_sensitivity(an.model, crop)
    cfg = an.model.cfg
    rec = {"source": "a", "face": 0, "box": [0, 0, 1, 1], "rationale": "AU6 0.7 + AU12 0.9 -> happiness"}
    assert explanation_record(expl, rec, cfg.template, cfg.input_size, "x.png")["rationale"] == rec["rationale"]
    assert explanation_record(expl, {}, cfg.template, cfg.input_size, "x.png")["rationale"] == ""


@pytest.mark.slow
def test_video_records_carry_smoothed_and_raw_valence(videos):
    df = affectlens.to_dataframe(affectlens.analyze_video(videos / "smile_pyfeat_single_face.mp4", fps=5))
    for col in (
        "valence",
        "arousal",
        "confidence",
        "uncertain",
        "uncertain_reason",
        "compound",
        "valence_raw",
        "arousal_raw",
    ):
        assert col in df.columns
    faces = df.dropna(subset=["face"])
    assert faces["valence"].between(-1, 1).all() and faces["valence_raw"].between(-1, 1).all()
    assert faces["valence"].max() > 0.3  # the broad smile


@pytest.mark.slow
def test_calibrate_fits_every_threshold_on_val(capsys):
    assert main(["calibrate", "--model", "ferplus-lite0", "--limit", "40"]) == 0
    out = json.loads(capsys.readouterr().out)
    t = out["thresholds"]
    fitted = Thresholds.from_config(t)
    assert None not in (
        fitted.margin,
        fitted.min_face_px,
        fitted.max_yaw_deg,
        fitted.eyes_energy,
        fitted.mouth_energy,
        fitted.eyes_texture,
        fitted.mouth_texture,
        fitted.min_max_logit,
        fitted.compound_margin,
    )
    assert set(t["rules"]) == {
        "margin",
        "min_face_px",
        "max_yaw_deg",
        "eyes_energy",
        "mouth_energy",
        "eyes_texture",
        "mouth_texture",
        "min_max_logit",
        "compound_margin",
    }
    assert "40 faces" in t["fitted_on"] and 0 < t["val_measured"]["accuracy"] <= 1


def test_occlusion_passes_for_some_faces_give_their_energies_and_nan_for_the_rest(fer):
    """Video gives the occlusion check's extra passes to some faces of a frame only: their
    energies are those of checking every face, the others' are NaN, and the logits and textures
    do not change (one batch either way; real FER2013 test faces)."""
    from affectlens.models.expression import load_expression_model
    from affectlens.models.uncertainty import logits_and_signals

    emotion, pixels, usage = fer
    crops = np.ascontiguousarray(pixels[np.flatnonzero(usage == "PrivateTest")[:5]])
    model = load_expression_model()
    logits, full = logits_and_signals(model, crops, True)
    some = np.array([True, False, True, False, False])
    logits_some, part = logits_and_signals(model, crops, some)
    logits_none, none = logits_and_signals(model, crops, False)
    for lg in (logits_some, logits_none):
        np.testing.assert_allclose(lg, logits, rtol=1e-5, atol=1e-5)
    assert np.isfinite(full[0]).all() and np.isfinite(full[1]).all()
    for k in (0, 1):  # eyes and mouth energies
        np.testing.assert_allclose(part[k][some], full[k][some], rtol=1e-5, atol=1e-5)
        assert np.isnan(part[k][~some]).all() and np.isnan(none[k]).all()
    for k in (2, 3):  # textures need no extra pass
        np.testing.assert_array_equal(part[k], full[k])
        np.testing.assert_array_equal(none[k], full[k])
