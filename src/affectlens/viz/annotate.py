"""Boxes and readable labels drawn onto an image or video frame.

Every label is text on a solid background in its expression's colour, placed by
:func:`affectlens.viz.layout.place_labels` so that no two labels overlap, none leaves the image
and, where there is room, none covers another face; a label moved away from its face is joined to
the box by a leader line. One font size per image, from the image's size (never the face's), at
least :data:`MIN_FONT_PX` pixels (smaller only in images too small to hold a label that size).

Two levels of detail (``detail``):

- ``compact`` (the default): the label (the compound ``happiness+surprise`` when the top two are
  close), its confidence and ``?`` when the face is uncertain;
- ``full``: also the face's name (its index, ``#<track>`` in video), why it is uncertain,
  valence/arousal, head pose and the strongest action units (when measured), and the five
  landmarks.
"""

from __future__ import annotations

import functools
import math
from dataclasses import replace

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from affectlens.types import FrameResult, ImageResult
from affectlens.viz.layout import Placement, place_labels

DETAILS = ("compact", "full")
MIN_FONT_PX = 12  # the smallest text drawn, in image pixels (unless the image is smaller than a label)
MIN_TINY_FONT_PX = 6  # the smallest text drawn in images too small for a 12-pixel label
FONT_FRACTION = 1 / 56  # font size as a fraction of the image's shorter side

COLOURS = {
    "neutral": (200, 200, 200),
    "happiness": (255, 200, 0),
    "surprise": (0, 200, 255),
    "sadness": (60, 110, 255),
    "anger": (255, 40, 40),
    "disgust": (120, 200, 40),
    "fear": (180, 80, 255),
    "contempt": (255, 120, 180),
}
OTHER = (255, 255, 255)


@functools.lru_cache(maxsize=64)
def font(size: int):
    """Pillow's built-in scalable font (Pillow >= 10.1) at ``size`` pixels; no font file needed."""
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def font_size(width: int, height: int) -> int:
    """The one font size (pixels) used for every label of a ``width`` x ``height`` image."""
    return max(MIN_FONT_PX, round(min(width, height) * FONT_FRACTION))


def affect_line(affect) -> str:
    """Compact text for one face's affect: ``V+0.62 A+0.21`` and ``? reasons`` when uncertain."""
    text = f"V{affect.valence:+.2f} A{affect.arousal:+.2f}"
    return text + (f" ? {affect.uncertain_reason}" if affect.uncertain else "")


def geometry_lines(fr, top_aus: int = 2) -> list[str]:
    """Compact head pose and strongest action units of one face (nothing when not measured)."""
    pose = getattr(fr, "pose", None)
    if pose is None or math.isnan(pose.yaw):
        return []
    aus = sorted(((v, n) for n, v in fr.aus.as_dict().items() if not math.isnan(v) and v >= 0.2), reverse=True)
    aus = aus[:top_aus]
    return [f"yaw {pose.yaw:+.0f} pitch {pose.pitch:+.0f}"] + (
        [" ".join(f"{n} {v:.2f}" for v, n in aus)] if aus else []
    )


def check_detail(detail: str) -> str:
    """``detail`` when it is one of :data:`DETAILS`; else a ValueError naming the valid ones."""
    if detail not in DETAILS:
        raise ValueError(f"annotation detail {detail!r} is not one of: {', '.join(DETAILS)}")
    return detail


def label_lines(fr, detail: str = "compact") -> list[str]:
    """The text lines of one face's label (see the module doc for what each detail shows)."""
    check_detail(detail)
    affect = getattr(fr, "affect", None)
    analysed = affect is not None and bool(affect.compound)  # not a hand-made record
    shown = affect.compound if analysed and "+" in affect.compound else fr.expression.top
    flag = " ?" if analysed and affect.uncertain else ""
    title = f"{shown} {fr.expression.top_prob:.2f}{flag}"
    if detail == "compact":
        return [title]
    name = f"#{fr.track}" if hasattr(fr, "track") else str(fr.index)
    lines = [f"{name}: {title}"]
    if analysed:
        lines.append(affect_line(affect))
    return lines + geometry_lines(fr)


def _text_colour(bg: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light backgrounds, white on dark ones."""
    luma = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2]
    return (0, 0, 0) if luma >= 128 else (255, 255, 255)


@functools.lru_cache(maxsize=4096)
def _text_size(text: str, size: int) -> tuple[float, float]:
    f = font(size)
    box = f.getbbox(text)
    ascent, descent = f.getmetrics()
    return float(box[2]), float(ascent + descent)


def label_size(lines: list[str], size: int) -> tuple[float, float]:
    """Width and height in pixels of a label's background for ``lines`` at font ``size``."""
    pad = _pad(size)
    dims = [_text_size(t, size) for t in lines]
    return max(w for w, _ in dims) + 2 * pad, sum(h for _, h in dims) + 2 * pad


def _pad(size: int) -> int:
    return max(2, round(size * 0.25))


def label_font_size(result: ImageResult | FrameResult, detail: str = "compact") -> int:
    """The font size of every label of ``result``'s picture: :func:`font_size`, made smaller only
    when the widest or tallest label would not fit in the image (tiny images)."""
    size = font_size(result.width, result.height)
    if not result.faces:
        return size
    dims = [label_size(label_lines(fr, detail), size) for fr in result.faces]
    fit = min(result.width / max(w for w, _ in dims), result.height / max(h for _, h in dims))
    return size if fit >= 1 else max(MIN_TINY_FONT_PX, int(size * fit))


def layout(result: ImageResult | FrameResult, detail: str = "compact", prefer=None) -> list[Placement]:
    """Where each face's label goes in the annotated picture of ``result`` (one per face, in
    ``result.faces`` order): the rectangles :func:`annotate` draws. ``prefer``: per face, None
    or where its label was in the previous frame (see :func:`~affectlens.viz.layout.place_labels`)."""
    size = label_font_size(result, detail)
    sizes = [label_size(label_lines(fr, detail), size) for fr in result.faces]
    boxes = [fr.face.box for fr in result.faces]
    return place_labels(boxes, sizes, (result.width, result.height), gap=max(2.0, size / 6), prefer=prefer)


def _nearest(rect, point) -> tuple[float, float]:
    """The point of rectangle ``rect`` (x0, y0, x1, y1) closest to ``point``."""
    return min(max(point[0], rect[0]), rect[2]), min(max(point[1], rect[1]), rect[3])


def _leader(draw: ImageDraw.ImageDraw, box, rect, colour, width: int) -> None:
    """A line from the box edge to the label it belongs to."""
    x, y, w, h = box
    centre = ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)
    start = _nearest((x, y, x + w, y + h), centre)
    end = _nearest(rect, start)
    draw.line([start, end], fill=(0, 0, 0), width=width + 2)
    draw.line([start, end], fill=colour, width=width)


def annotate(
    rgb: np.ndarray,
    result: ImageResult | FrameResult,
    detail: str = "compact",
    placements: list[Placement] | None = None,
) -> Image.Image:
    """A copy of the image (the one ``result`` came from) with each face's box and label.

    ``detail``: ``compact`` or ``full`` (see the module doc); ``placements``: the labels'
    rectangles when already computed with :func:`layout` (video keeps them steady between frames).
    """
    check_detail(detail)
    img = Image.fromarray(np.asarray(rgb)).convert("RGB")
    draw = ImageDraw.Draw(img)
    result = _sized(result, img)
    size = label_font_size(result, detail)
    stroke = max(2, round(font_size(img.width, img.height) / 12))
    placements = layout(result, detail) if placements is None else placements
    colours = [COLOURS.get(fr.expression.top, OTHER) for fr in result.faces]
    for fr, colour in zip(result.faces, colours):
        x, y, w, h = fr.face.box
        draw.rectangle([x - 1, y - 1, x + w + 1, y + h + 1], outline=(0, 0, 0), width=stroke + 2)
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=stroke)
        if detail == "full":
            r = max(1.5, stroke * 0.8)
            for px, py in fr.face.landmarks:
                draw.ellipse([px - r, py - r, px + r, py + r], fill=(0, 255, 0))
    for fr, p, colour in zip(result.faces, placements, colours):
        if p.displaced:
            _leader(draw, fr.face.box, p.rect, colour, max(1, stroke - 1))
    pad, f = _pad(size), font(size)
    for fr, p, colour in zip(result.faces, placements, colours):
        x0, y0, x1, y1 = p.rect
        draw.rectangle([x0, y0, x1 - 1, y1 - 1], fill=colour, outline=(0, 0, 0))
        ty = y0 + pad
        for line in label_lines(fr, detail):
            draw.text((x0 + pad, ty), line, fill=_text_colour(colour), font=f)
            ty += _text_size(line, size)[1]
    return img


def _sized(result, img: Image.Image):
    """``result`` with the drawn image's size (hand-made results may not carry it)."""
    if (result.width, result.height) == (img.width, img.height):
        return result
    return replace(result, width=img.width, height=img.height)
