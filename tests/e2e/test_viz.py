"""Annotated pictures people can read, on real crowds: labels never on each other, inside the
image, one font size; explanation heatmaps on one fixed scale."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import affectlens
from affectlens.viz.annotate import (
    COLOURS,
    annotate,
    font_size,
    label_font_size,
    label_lines,
    label_size,
    layout,
)
from affectlens.viz.explain import (
    DEFAULT_VMAX,
    FACE_SIDE,
    FACE_TOP,
    MAX_ALPHA,
    heat_colours,
    write_explanations,
)


def overlapping_pairs(placements) -> list[tuple[int, int]]:
    """Index pairs of labels whose rectangles share any area (as in tests/unit/test_layout.py)."""
    rects = [p.rect for p in placements]
    return [
        (i, j)
        for i in range(len(rects))
        for j in range(i + 1, len(rects))
        if rects[i][0] < rects[j][2]
        and rects[j][0] < rects[i][2]
        and rects[i][1] < rects[j][3]
        and rects[j][1] < rects[i][3]
    ]


def outside(placements, width: int, height: int) -> list[int]:
    return [
        i for i, p in enumerate(placements) if p.rect[0] < 0 or p.rect[1] < 0 or p.rect[2] > width or p.rect[3] > height
    ]


def covers(rect, box) -> bool:
    x, y, w, h = box
    return rect[0] < x + w and x < rect[2] and rect[1] < y + h and y < rect[3]


@pytest.fixture(scope="module")
def solvay(photos):
    path = photos / "solvay_conference_1927.jpg"
    return np.asarray(Image.open(path).convert("RGB")), affectlens.analyze(path)


def frame_at(video, seconds: float):
    """The analysed frame nearest ``seconds`` (with a second of tracking and smoothing before it)."""
    results = list(
        affectlens.analyze_video_iter(str(video), start=max(0.0, seconds - 1.0), end=seconds + 0.02, fps=10, workers=2)
    )
    return min(results, key=lambda r: abs(r.time_ms - seconds * 1000))


def check_readable(result, detail: str) -> list:
    ps = layout(result, detail)
    assert len(ps) == len(result.faces)
    assert overlapping_pairs(ps) == [], f"{result.source}: labels on top of each other"
    assert outside(ps, result.width, result.height) == [], f"{result.source}: labels off the image"
    assert not any(p.overlaps for p in ps)
    size = label_font_size(result, detail)  # one font size: the label sizes follow from it
    for fr, p in zip(result.faces, ps):
        w, h = label_size(label_lines(fr, detail), size)
        assert (round(p.rect[2] - p.rect[0], 3), round(p.rect[3] - p.rect[1], 3)) == (round(w, 3), round(h, 3))
    return ps


@pytest.mark.slow
@pytest.mark.parametrize("detail", ["compact", "full"])
def test_solvay_labels_never_overlap_and_stay_inside(solvay, detail):
    _, result = solvay
    assert len(result.faces) == 29
    ps = check_readable(result, detail)
    if detail == "compact":  # the 29 compact labels all find a place on no face
        boxes = [fr.face.box for fr in result.faces]
        assert not any(covers(p.rect, b) for p in ps for b in boxes)
    assert font_size(result.width, result.height) >= 12


@pytest.mark.slow
def test_annotated_solvay_draws_solid_labels_where_the_layout_says(solvay):
    rgb, result = solvay
    img = np.asarray(annotate(rgb, result))
    assert img.shape == rgb.shape
    for fr, p in zip(result.faces, layout(result)):
        x0, y0 = int(p.rect[0]) + 1, int(p.rect[1]) + 1  # inside the border, left of the text
        assert tuple(img[y0 + 1, x0 + 1]) == COLOURS[fr.expression.top]
    with pytest.raises(ValueError, match="'huge' is not one of: compact, full"):
        annotate(rgb, result, detail="huge")


def test_compact_and_full_text():
    face = affectlens.Face((10, 10, 40, 40), 0.9, ((20, 20), (40, 20), (30, 30), (22, 40), (38, 40)))
    expr = affectlens.Expression(("neutral", "happiness"), (0.3, 0.7))
    aff = affectlens.Affect(0.5, 0.2, 0.7, True, "small face", "happiness")
    fr = affectlens.FaceResult(3, face, expr, aff)
    assert label_lines(fr) == ["happiness 0.70 ?"]
    assert label_lines(fr, "full") == ["3: happiness 0.70 ?", "V+0.50 A+0.20 ? small face"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "clip, seconds",
    [
        ("multiface_whitehouse_hamilton_short.mp4", 9.0),
        ("multiface_whitehouse_hamilton_short.mp4", 2.0),
        ("multiface_pedestrians_facenet.mp4", 2.5),
    ],
)
def test_video_frame_labels_never_overlap_and_stay_inside(videos, clip, seconds):
    result = frame_at(videos / clip, seconds)
    assert len(result.faces) >= 2  # crowded enough to matter (Hamilton 9 s: 4 audience faces)
    for detail in ("compact", "full"):
        check_readable(result, detail)


@pytest.mark.slow
def test_video_labels_stay_with_their_track(videos):
    from affectlens.viz.video import SteadyLabels

    results = list(affectlens.analyze_video_iter(str(videos / "multiface_pedestrians_facenet.mp4"), fps=10, workers=2))
    steady, jumps, fresh_jumps = SteadyLabels("compact"), 0, 0
    last, last_fresh = {}, {}
    for r in results:
        for fr, p, q in zip(r.faces, steady.place(r), layout(r)):
            jumps += fr.track in last and last[fr.track] != p.side
            fresh_jumps += fr.track in last_fresh and last_fresh[fr.track] != q.side
            last[fr.track], last_fresh[fr.track] = p.side, q.side
        assert overlapping_pairs(steady.place(r)) == []
    assert jumps <= fresh_jumps  # never more side changes than placing every frame afresh


def test_heat_colour_depends_on_the_drop_only():
    drops = np.array([0.003, 0.1, 0.33, 0.5, 0.9])
    colour, alpha = heat_colours(drops, DEFAULT_VMAX)
    assert np.all(np.diff(alpha) >= 0) and alpha[-1] == alpha[-2] == MAX_ALPHA  # above vmax: the top colour
    assert alpha[0] < 0.1 * MAX_ALPHA < alpha[2]  # 0.003 nearly grey, 0.33 strongly coloured
    assert not np.allclose(colour[0], colour[2])
    with pytest.raises(ValueError, match="must be > 0"):
        heat_colours(drops, 0.0)


@pytest.mark.slow
def test_heatmaps_share_one_scale_across_faces(solvay, tmp_path):
    rgb, result = solvay
    analyzer = affectlens.Analyzer()
    recs = [{"source": "solvay", "face": fr.index, "rationale": fr.rationale} for fr in result.faces]
    written = write_explanations(analyzer, rgb, result, recs, tmp_path, "solvay")
    sides = [json.loads(p.read_text()) for p in written if p.suffix == ".json"]
    assert len(sides) == 29 and {s["colour_scale"]["max"] for s in sides} == {DEFAULT_VMAX}
    strong = max(sides, key=lambda s: s["peak_drop"])
    weak = min(sides, key=lambda s: s["peak_drop"])
    assert strong["peak_drop"] > 10 * weak["peak_drop"]  # real faces differ by more than 10x

    def peak_colour(side):
        img = np.asarray(Image.open(tmp_path / side["heatmap"]).convert("RGB")).astype(int)
        face = img[FACE_TOP : FACE_TOP + FACE_SIDE, :FACE_SIDE]
        return np.abs(face - face.mean(axis=2, keepdims=True)).sum(axis=2).max()  # most colourful pixel

    # per-face normalisation would paint both peaks the same full colour; one scale does not
    assert peak_colour(strong) > 3 * peak_colour(weak)
    bars = [
        np.asarray(Image.open(tmp_path / s["heatmap"]))[FACE_TOP : FACE_TOP + FACE_SIDE, FACE_SIDE:]
        for s in (strong, weak)
    ]
    assert np.array_equal(*bars)  # the same colour bar and ticks on every face's picture


@pytest.mark.slow
def test_annotated_video_uses_the_same_readable_labels(videos, tmp_path):
    av = pytest.importorskip("av")
    from affectlens.pipeline.video import VideoRun
    from affectlens.viz.video import AnnotatedVideoWriter

    out = tmp_path / "hamilton-9s.mp4"
    options = affectlens.Options().replace(start=8.5, end=9.5, fps=10, workers=2)
    run = VideoRun(str(videos / "multiface_whitehouse_hamilton_short.mp4"), options)
    with AnnotatedVideoWriter(out, offset_ms=8500.0, detail="full") as writer:
        for vf, result in run.pairs():
            writer.write(vf.rgb, result)
            assert overlapping_pairs(writer.labels.place(result)) == []  # the placement just drawn, kept
    with av.open(str(out)) as c:
        frames = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    assert len(frames) >= 9 and frames[0].shape == (360, 640, 3)
    with pytest.raises(ValueError, match="'short' is not one of: compact, full"):
        AnnotatedVideoWriter(tmp_path / "x.mp4", detail="short")


def test_an_image_without_faces_is_returned_unchanged(photos):
    rgb = np.asarray(Image.open(photos / "astronaut.png").convert("RGB"))[400:, :100]  # a corner, no face
    result = affectlens.analyze(rgb)
    assert result.faces == () and layout(result) == []
    assert np.array_equal(np.asarray(annotate(rgb, result, detail="full")), rgb)
