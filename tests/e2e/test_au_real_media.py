"""Action units on real photos and video: neutral faces read near 0, smiles still show.

The scale is fitted on FER+ train faces only (``python benchmarks/au_validity.py --fit``); these
media are never used to fit it. ``python benchmarks/au_validity.py --real-media`` prints the same
numbers before and after the refit.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import affectlens
from affectlens.models.action_units import ACTIVE, AU_NAMES, PROTOTYPES, cited_from, rationale

ON = affectlens.Options().replace(mesh="on")
GOLDEN = json.loads((Path(__file__).parents[1] / "data" / "solvay_faces.json").read_text())
#: the smile clip's parts, checked by eye: neutral until 0.6 s, a broad smile from 0.7 to 2.3 s
NEUTRAL_MS, SMILING_MS = (0.0, 600.0), (700.0, 2300.0)


@pytest.fixture(scope="module")
def solvay_neutral(photos):
    """The Solvay faces whose top label is neutral (28 of the 29 golden faces)."""
    r = affectlens.analyze(photos / "solvay_conference_1927.jpg", ON)
    assert len(r.faces) == len(GOLDEN["faces"])
    return [f for f in r.faces if f.expression.top == "neutral"]


def test_neutral_solvay_faces_read_near_zero(solvay_neutral):
    assert len(solvay_neutral) >= 25
    values = np.array([f.aus.values for f in solvay_neutral])
    assert not np.isnan(values).any()
    median = dict(zip(AU_NAMES, np.median(values, axis=0)))
    active = dict(zip(AU_NAMES, (values >= ACTIVE).mean(axis=0)))
    assert all(v <= 0.15 for v in median.values()), median
    assert all(v <= 0.20 for v in active.values()), active
    # so most of their rationales cite nothing (19 of 28 measured; all 28 cited an AU before the
    # refit). Which faces are "neutral" is the classifier's call: with the 7-bit int8 default, 17
    # of 29, one of the new ones a smile (AU6 0.59 + AU12 0.71) that the rationale rightly names
    quiet = [f.rationale.startswith("no AU at or above") for f in solvay_neutral]
    assert np.mean(quiet) >= 0.55, [f.rationale for f in solvay_neutral]


def test_open_eyes_in_portraits_do_not_read_closed(photos):
    for name in ("grace_hopper.jpg", "astronaut.png", "newton.png", "gauss.png"):
        f = affectlens.analyze(photos / name, ON).faces[0]
        assert f.aus.get("AU43") < ACTIVE, (name, f.aus.get("AU43"))


def _parts(frames):
    faces = [(fr.time_ms, fr.faces[0]) for fr in frames if fr.faces]
    neutral = [f for t, f in faces if NEUTRAL_MS[0] <= t <= NEUTRAL_MS[1]]
    smiling = [f for t, f in faces if SMILING_MS[0] <= t <= SMILING_MS[1]]
    assert len(neutral) >= 5 and len(smiling) >= 12
    return neutral, smiling


def _median(faces, au):
    return float(np.median([f.aus.get(au) for f in faces]))


@pytest.mark.slow
def test_smile_clip_smile_shows_and_neutral_start_does_not(videos):
    pytest.importorskip("av")
    clip = videos / "smile_pyfeat_single_face.mp4"
    population = list(affectlens.analyze_video_iter(clip, every=2, smooth="none", landmarks="on"))
    own = list(affectlens.analyze_video_iter(clip, every=2, smooth="none", landmarks="on", au_baseline=True))
    neutral, smiling = _parts(population)
    # from one frame, against other people's neutral faces: the Duchenne smile shows on both AUs
    assert _median(smiling, "AU12") >= 0.5 and _median(smiling, "AU6") >= 0.5
    # and his neutral start reads near 0 on every AU (his brows sit high: AU1/AU2 read 0.31/0.20
    # when brow height was divided by the eye distance instead of the eye-to-nose height)
    medians = {n: _median(neutral, n) for n in AU_NAMES}
    assert all(v <= 0.15 for v in medians.values()), medians
    # against his own neutral as well
    _, smiling_own = _parts(own)
    assert _median(smiling_own, "AU12") >= 0.5 and _median(smiling_own, "AU6") >= 0.5
    happy = [f for f in smiling_own if f.expression.top == "happiness"]
    assert happy and all("AU6" in f.rationale and "AU12" in f.rationale for f in happy)


def test_rationale_needs_more_of_an_au_that_face_shape_confounds(solvay_neutral):
    weak = [n for n in AU_NAMES if cited_from(n) > ACTIVE]
    assert {"AU5", "AU17", "AU26"} <= set(weak) and "AU12" not in weak and "AU6" not in weak
    assert all(ACTIVE < cited_from(n) <= 1.0 for n in weak)
    # a real face with AU25 and AU26 set just above ACTIVE: surprise cites the lips, not the jaw
    aus = solvay_neutral[0].aus
    values = dict(aus.as_dict(), AU25=ACTIVE + 0.05, AU26=ACTIVE + 0.05)
    lifted = dataclasses.replace(aus, values=tuple(values[n] for n in aus.names))
    assert rationale(lifted, "surprise").startswith(f"AU25 {ACTIVE + 0.05:.2f} -> surprise")
    assert "AU26" in PROTOTYPES["surprise"]


def test_jaw_drop_is_credited_only_as_far_as_the_lips_part(solvay_neutral):
    for f in solvay_neutral:
        assert f.aus.get("AU26") <= f.aus.get("AU25") + 1e-12


def _clip_frames(videos, indices):
    av = pytest.importorskip("av")
    with av.open(str(videos / "smile_pyfeat_single_face.mp4")) as c:
        frames = {i: f.to_ndarray(format="rgb24") for i, f in enumerate(c.decode(video=0)) if i in indices}
    assert set(frames) == set(indices)
    return frames


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
def test_brow_and_cheek_read_the_same_at_any_resolution(videos, scale):
    """Frame 3 (neutral, 0.1 s) and frame 45 (broad smile, 1.5 s) of the smile clip, downscaled so
    the face is about 150, 75 and 38 px wide: the neutral face reads near 0 on the brows and the
    cheek at every size, the smile keeps its cheek raise."""
    from PIL import Image

    frames = _clip_frames(videos, (3, 45))
    aus = {}
    for i, rgb in frames.items():
        h, w = rgb.shape[:2]
        small = np.asarray(Image.fromarray(rgb).resize((round(w * scale), round(h * scale)), Image.BILINEAR))
        faces = affectlens.analyze(small, ON).faces
        assert len(faces) == 1, (i, scale)
        aus[i] = faces[0].aus
    assert all(aus[3].get(n) <= 0.15 for n in ("AU1", "AU2", "AU6")), aus[3].as_dict()
    assert aus[45].get("AU6") >= 0.5 and aus[45].get("AU12") >= 0.5, aus[45].as_dict()
