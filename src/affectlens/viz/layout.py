"""Where each face's label goes: beside its box, inside the image, never on another label.

A pure function of geometry (boxes, label sizes, image size → label rectangles), so the rules can
be tested without drawing. For each face the candidates are, in order:

1. touching the box: right above it, right below it, to its left, to its right (centred on the
   box, slid along the edge to stay inside the image);
2. pushed away from the box or slid along its edge, step by step, nearest first (sliding counts
   double: a label far along the edge is as unclear as one pushed out), up to ``reach`` label
   heights away;
3. anywhere in the image, nearest to the box first.

A candidate must stay inside the image and keep ``gap`` pixels from every label placed before it.
The first candidate that also covers no face box wins; only when no place in the whole image is
free of boxes may a label cover another face, and only when even that fails its own face (tiny
images); when the image is full the label goes on top of another one and says so (``overlaps``).
A label that does not touch its box is ``displaced``: the drawing joins it to the box with a
leader line.

Labels are placed one at a time, so the order matters: several orders are tried (top to bottom,
left to right, largest label first, nearest the image edge first) and the one with the labels
nearest their faces and fewest on other faces is kept. Coordinates are pixels, ``(x0, y0, x1,
y1)`` with ``x1``/``y1`` exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIDES = ("above", "below", "left", "right")


@dataclass(frozen=True)
class Placement:
    """One label: its rectangle ``(x0, y0, x1, y1)``, which side of the box it went to, whether
    it is away from the box (drawn with a leader line) and whether it could not avoid another
    label (only when the image has no room left)."""

    rect: tuple[float, float, float, float]
    side: str
    displaced: bool
    overlaps: bool = False


def _as_rects(boxes) -> np.ndarray:
    """``(x, y, w, h)`` boxes as an (N, 4) array of ``(x0, y0, x1, y1)``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.column_stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]])


def _clamp(x0: np.ndarray, y0: np.ndarray, w: float, h: float, width: int, height: int):
    """Slide rectangles of size ``w`` x ``h`` into the image (where they fit)."""
    return np.clip(x0, 0, max(0.0, width - w)), np.clip(y0, 0, max(0.0, height - h))


def _near(box: np.ndarray, w: float, h: float, reach: int) -> np.ndarray:
    """Candidate corners near one box, in preference order: by distance from the box plus twice
    the slide along its edge (a label slid by half its length is as far as one pushed out by
    one label height: sliding makes it less clear which face a label belongs to), then above,
    below, left, right."""
    bx0, by0, bx1, by1 = box
    cx, cy = (bx0 + bx1) / 2 - w / 2, (by0 + by1) / 2 - h / 2
    out = np.arange(0, reach * h + 1e-6, h / 2)  # distance from the box
    along_x = np.arange(0, w + 1e-6, w / 8)  # slides along the top and bottom edges
    along_y = np.arange(0, (by1 - by0) / 2 + h + 1e-6, h / 2)  # along the left and right edges
    rows = []  # (x0, y0, cost, side rank)
    for rank, side in enumerate(SIDES):
        along = along_x if side in ("above", "below") else along_y
        d, t = (a.ravel() for a in np.meshgrid(out, np.concatenate([along, -along[1:]])))
        if side == "above":
            x, y = cx + t, by0 - h - d
        elif side == "below":
            x, y = cx + t, by1 + d
        elif side == "left":
            x, y = bx0 - w - d, cy + t
        else:
            x, y = bx1 + d, cy + t
        scale = w if side in ("above", "below") else h
        cost = d / h + 2 * np.abs(t) / scale
        rows.append(np.column_stack([x, y, np.round(cost, 3), np.full(len(d), rank)]))
    c = np.concatenate(rows)
    return c[np.lexsort((c[:, 3], c[:, 2])), :2]


def _grid(width: int, height: int, w: float, h: float, box: np.ndarray):
    """Every spot of the image on a half-label grid, nearest to ``box`` first (the last resort)."""
    xs = np.arange(0, max(1.0, width - w + 1), max(1.0, h / 2))
    ys = np.arange(0, max(1.0, height - h + 1), max(1.0, h / 2))
    gx, gy = (a.ravel() for a in np.meshgrid(xs, ys))
    grid = np.column_stack([gx, gy, gx + w, gy + h])
    return grid[np.argsort(_distance(grid, box), kind="stable")]


def _distance(rects: np.ndarray, box: np.ndarray) -> np.ndarray:
    """Gap in pixels between each rectangle and ``box`` (0 when they touch or overlap)."""
    dx = np.maximum(0, np.maximum(box[0] - rects[:, 2], rects[:, 0] - box[2]))
    dy = np.maximum(0, np.maximum(box[1] - rects[:, 3], rects[:, 1] - box[3]))
    return np.hypot(dx, dy)


def _hits(rects: np.ndarray, others: np.ndarray, pad: float) -> np.ndarray:
    """For each rectangle, whether it comes within ``pad`` of any of ``others``."""
    if len(others) == 0:
        return np.zeros(len(rects), dtype=bool)
    r, o = rects[:, None, :], others[None, :, :]
    return (
        (r[..., 0] < o[..., 2] + pad)
        & (o[..., 0] < r[..., 2] + pad)
        & (r[..., 1] < o[..., 3] + pad)
        & (o[..., 1] < r[..., 3] + pad)
    ).any(axis=1)


def _side_of(rect: np.ndarray, box: np.ndarray) -> str:
    if rect[3] <= box[1]:
        return "above"
    if rect[1] >= box[3]:
        return "below"
    return "left" if rect[2] <= box[0] else "right"


def _tiers(cands: np.ndarray, labels: np.ndarray, boxes: np.ndarray, own: np.ndarray, gap: float):
    """Masks of candidates, best first: free of labels and boxes; free of labels and of their own
    box (covering another face); free of labels only (on their own box: no room around it)."""
    free = ~_hits(cands, labels, gap)
    off_own = free & ~_hits(cands, own[None], 0.0)
    return off_own & ~_hits(cands, boxes, 0.0), off_own, free


def _first(mask: np.ndarray) -> int | None:
    idx = np.flatnonzero(mask)
    return int(idx[0]) if len(idx) else None


def anchor(rect, box) -> tuple[str, float, float]:
    """Where a label sits relative to its box (``x, y, w, h``), independent of either's size:
    ``(side, slide, distance)``: the side, the offset of the label's centre from the box's centre
    along that side, and the gap between the label and the box."""
    r, b = np.asarray(rect, dtype=np.float64), _as_rects([box])[0]
    side = _side_of(r, b)
    if side in ("above", "below"):
        slide = (r[0] + r[2]) / 2 - (b[0] + b[2]) / 2
        return side, float(slide), float(b[1] - r[3] if side == "above" else r[1] - b[3])
    slide = (r[1] + r[3]) / 2 - (b[1] + b[3]) / 2
    return side, float(slide), float(b[0] - r[2] if side == "left" else r[0] - b[2])


def _corner(where, box: np.ndarray, w: float, h: float) -> tuple[float, float]:
    """The top-left corner of a ``w`` x ``h`` label at anchor ``where`` of ``box`` (x0, y0, x1, y1)."""
    side, slide, dist = where
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    if side == "above":
        return cx + slide - w / 2, box[1] - dist - h
    if side == "below":
        return cx + slide - w / 2, box[3] + dist
    if side == "left":
        return box[0] - dist - w, cy + slide - h / 2
    return box[2] + dist, cy + slide - h / 2


def _place_one(box, others, w, h, placed, size, gap, reach, prefer=None):
    """The rectangle for one label (see the module doc) and its tier: 0 clear, 1 on another face,
    2 on its own box, 3 on another label (the image is full)."""
    width, height = size
    corners = _near(box, w, h, reach)
    if prefer is not None:  # the label's last place relative to its box (video): keep it if still free
        corners = np.vstack([_corner(prefer, box, w, h), corners])
    xs, ys = _clamp(corners[:, 0], corners[:, 1], w, h, width, height)
    cands = np.column_stack([xs, ys, xs + w, ys + h])
    near, grid, far = _tiers(cands, placed, others, box, gap), None, None
    if prefer is not None:
        best = _first(near[0][1:])
        if near[0][0] and (
            best is None or _distance(cands[:1], box)[0] <= _distance(cands[1 + best][None], box)[0] + h
        ):
            return cands[0], 0
        near = tuple(m[1:] for m in near)
        cands = cands[1:]
    for tier in range(3):
        k = _first(near[tier])
        if k is not None:
            return cands[k], tier
        if tier < 2:  # nothing nearby at this tier: the nearest such spot anywhere
            if grid is None:
                grid = _grid(width, height, w, h, box)
                far = _tiers(grid, placed, others, box, gap)
            g = _first(far[tier])
            if g is not None:
                return grid[g], tier
    return cands[0], 3


def _place_in_order(order, rects, sizes, size, gap, reach, prefer):
    """Labels placed one by one in ``order``; their rectangles, tiers and total cost (distance
    from the box in label heights, plus 3 per label on another face, 5 on its own, 100 on a label)."""
    out, tiers, cost = [None] * len(rects), [0] * len(rects), 0.0
    placed = np.zeros((0, 4))
    for i in order:
        w, h = sizes[i]
        rect, tier = _place_one(rects[i], np.delete(rects, i, axis=0), w, h, placed, size, gap, reach, prefer[i])
        out[i], tiers[i] = rect, tier
        cost += _distance(rect[None], rects[i])[0] / h + (0, 3, 5, 100)[tier]
        placed = np.vstack([placed, rect])
    return out, tiers, cost


def _orders(rects: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """The orders tried: top to bottom, left to right, largest label first, nearest the edge first."""
    edge = np.minimum(rects[:, 0], rects[:, 1])
    return [
        np.lexsort((rects[:, 0], rects[:, 1])),
        np.lexsort((rects[:, 1], rects[:, 0])),
        np.argsort(-sizes[:, 0] * sizes[:, 1], kind="stable"),
        np.argsort(edge, kind="stable"),
    ]


def place_labels(boxes, sizes, image_size, gap: float = 2.0, reach: int = 6, prefer=None) -> list[Placement]:
    """Label rectangles for faces ``boxes`` (``(x, y, w, h)`` each) and label ``sizes``
    (``(w, h)`` each, in the same order) inside an image of ``image_size`` ``(width, height)``.

    Returns one :class:`Placement` per box, in the order given (see the module doc for the rules).
    ``gap``: pixels kept between two labels; ``reach``: how many label heights away the nearby
    candidates go before the whole image is searched; ``prefer``: per box, None or the
    :func:`anchor` of its label in the previous frame of a video, kept while it is free of labels
    and faces and not more than one label height farther from the box than the best other free
    place (so labels do not jump from frame to frame).
    """
    rects = _as_rects(boxes)
    sizes = np.asarray(sizes, dtype=np.float64).reshape(-1, 2)
    if len(sizes) != len(rects):
        raise ValueError(f"place_labels: {len(rects)} boxes but {len(sizes)} label sizes")
    prefer = [None] * len(rects) if prefer is None else list(prefer)
    if len(prefer) != len(rects):
        raise ValueError(f"place_labels: {len(rects)} boxes but {len(prefer)} preferred offsets")
    size = (int(image_size[0]), int(image_size[1]))
    best = None
    for order in _orders(rects, sizes):
        tried = _place_in_order(order, rects, sizes, size, gap, reach, prefer)
        if best is None or tried[2] < best[2] - 1e-9:
            best = tried
        if best[2] == 0:  # every label touches its own box and nothing else: no order does better
            break
    out, tiers, _ = best if best is not None else ([], [], 0.0)
    return [
        Placement(tuple(float(v) for v in r), _side_of(r, b), bool(_distance(r[None], b)[0] > 0.5), t == 3)
        for r, t, b in zip(out, tiers, rects)
    ]
