"""Label placement (viz.layout): pure geometry, checked on crafted boxes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from affectlens.viz.layout import anchor, place_labels


def overlapping_pairs(placements) -> list[tuple[int, int]]:
    """Index pairs of labels whose rectangles share any area."""
    bad = []
    for (i, a), (j, b) in itertools.combinations(enumerate(placements), 2):
        (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a.rect, b.rect
        if ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1:
            bad.append((i, j))
    return bad


def outside(placements, width: int, height: int) -> list[int]:
    return [
        i for i, p in enumerate(placements) if p.rect[0] < 0 or p.rect[1] < 0 or p.rect[2] > width or p.rect[3] > height
    ]


def covers(rect, box) -> bool:
    x, y, w, h = box
    return rect[0] < x + w and x < rect[2] and rect[1] < y + h and y < rect[3]


def test_a_lone_face_gets_its_label_right_above_the_box():
    (p,) = place_labels([(100, 100, 50, 60)], [(80, 20)], (400, 300))
    assert p.side == "above" and not p.displaced and not p.overlaps
    assert p.rect == (85.0, 80.0, 165.0, 100.0)  # centred on the box, touching its top edge


def test_labels_stay_inside_the_image_at_every_edge():
    boxes = [(0, 0, 40, 40), (360, 0, 40, 40), (0, 260, 40, 40), (360, 260, 40, 40), (180, 0, 40, 300)]
    ps = place_labels(boxes, [(120, 20)] * 5, (400, 300))
    assert outside(ps, 400, 300) == [] and overlapping_pairs(ps) == []
    assert ps[0].side == "below" and ps[2].side == "above"  # no room above the top-left face
    assert not any(covers(p.rect, b) for p, b in zip(ps, boxes))


def test_a_crowded_row_never_stacks_labels_and_marks_moved_ones():
    boxes = [(20 + 45 * i, 100, 40, 50) for i in range(8)]  # faces nearly touching, labels wider
    ps = place_labels(boxes, [(110, 18)] * 8, (420, 300), gap=2)
    assert overlapping_pairs(ps) == [] and outside(ps, 420, 300) == []
    assert not any(covers(p.rect, b) for p in ps for b in boxes)
    for p, (x, y, w, h) in zip(ps, boxes):  # "displaced" exactly when the label leaves its box's edge
        gap_x = max(0.0, x - p.rect[2], p.rect[0] - (x + w))
        gap_y = max(0.0, y - p.rect[3], p.rect[1] - (y + h))
        assert p.displaced == (np.hypot(gap_x, gap_y) > 0.5)
    assert any(p.displaced for p in ps)  # eight 110-px labels cannot all touch 40-px faces


def test_labels_keep_a_gap_between_them():
    boxes = [(100, 100, 30, 30), (135, 100, 30, 30), (170, 100, 30, 30)]
    ps = place_labels(boxes, [(60, 16)] * 3, (400, 300), gap=4)
    for a, b in itertools.combinations(ps, 2):
        dx = max(b.rect[0] - a.rect[2], a.rect[0] - b.rect[2])
        dy = max(b.rect[1] - a.rect[3], a.rect[1] - b.rect[3])
        assert max(dx, dy) >= 4


def test_a_full_image_reports_the_labels_it_could_not_separate():
    boxes = [(10 + 20 * i, 10, 15, 15) for i in range(4)]
    ps = place_labels(boxes, [(90, 40)] * 4, (100, 60))
    assert any(p.overlaps for p in ps)  # said, not hidden
    assert outside(ps, 100, 60) == []


def test_a_preferred_place_is_kept_while_it_is_free():
    box = (200, 100, 50, 60)
    (first,) = place_labels([box], [(80, 20)], (500, 400))
    right = ("right", 0.0, 0.0)
    (kept,) = place_labels([box], [(80, 20)], (500, 400), prefer=[right])
    assert first.side == "above" and kept.side == "right" and anchor(kept.rect, box) == right
    blocked = [box, (250, 100, 50, 60)]  # a face now sits where the label was
    ps = place_labels(blocked, [(80, 20)] * 2, (500, 400), prefer=[right, None])
    assert ps[0].side != "right" and overlapping_pairs(ps) == []


def test_mismatched_inputs_are_one_line_errors():
    with pytest.raises(ValueError, match="2 boxes but 1 label sizes"):
        place_labels([(0, 0, 1, 1), (2, 2, 1, 1)], [(5, 5)], (10, 10))
    assert place_labels([], [], (10, 10)) == []
