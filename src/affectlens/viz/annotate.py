"""Boxes, landmarks, labels and probabilities drawn onto an image."""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from affectlens.types import FrameResult, ImageResult

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


@functools.lru_cache(maxsize=64)
def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def affect_line(affect) -> str:
    """Compact text for one face's affect: ``V+0.62 A+0.21`` and ``? reasons`` when uncertain."""
    text = f"V{affect.valence:+.2f} A{affect.arousal:+.2f}"
    return text + (f" ? {affect.uncertain_reason}" if affect.uncertain else "")


def geometry_lines(fr, top_aus: int = 2) -> list[str]:
    """Compact head pose and strongest action units of one face (nothing when not measured)."""
    pose = getattr(fr, "pose", None)
    if pose is None or pose.yaw != pose.yaw:
        return []
    aus = sorted(((v, n) for n, v in fr.aus.as_dict().items() if v == v and v >= 0.2), reverse=True)[:top_aus]
    return [f"yaw {pose.yaw:+.0f} pitch {pose.pitch:+.0f}"] + ([" ".join(f"{n} {v:.2f}" for v, n in aus)] if aus else [])


def annotate(rgb: np.ndarray, result: ImageResult | FrameResult, top_k: int = 3) -> Image.Image:
    """A copy of the image with each face's box, landmarks, top label and top-k probabilities,
    and (with the face mesh) its yaw/pitch and two strongest action units.

    The label is the compound (``happiness+surprise``) when the top two are close; under it a
    line with valence/arousal and, for uncertain faces, ``? <reasons>``.

    Faces are named by their index in the image, or ``#<track>`` for tracked video faces.
    """
    img = Image.fromarray(rgb).convert("RGB")
    draw = ImageDraw.Draw(img)
    for fr in result.faces:
        x, y, w, h = fr.face.box
        label = fr.expression.top
        colour = COLOURS.get(label, (255, 255, 255))
        line = max(2, round(min(w, h) / 40))
        size = max(10, round(min(w, h) / 5))
        font, small = _font(size), _font(max(9, round(size * 0.75)))
        draw.rectangle([x, y, x + w, y + h], outline=colour, width=line)
        r = max(1.5, line * 0.8)
        for px, py in fr.face.landmarks:
            draw.ellipse([px - r, py - r, px + r, py + r], fill=(0, 255, 0))
        name = f"#{fr.track}" if hasattr(fr, "track") else str(fr.index)
        affect = getattr(fr, "affect", None)
        shown = affect.compound if affect is not None and "+" in affect.compound else label
        title = f"{name}: {shown} {fr.expression.top_prob:.2f}"
        tb = draw.textbbox((x, y), title, font=font)
        ty = y - (tb[3] - tb[1]) - 2 * line
        if ty < 0:
            ty = y + h + line
        draw.rectangle([x, ty, x + (tb[2] - tb[0]) + 2 * line, ty + (tb[3] - tb[1]) + 2 * line], fill=(0, 0, 0))
        draw.text((x + line, ty), title, fill=colour, font=font)
        ranked = sorted(fr.expression.as_dict().items(), key=lambda kv: -kv[1])[1:top_k]
        lines = "\n".join([f"{k} {v:.2f}" for k, v in ranked] + geometry_lines(fr))
        if affect is not None and affect.compound:  # analysed (not a hand-made record)
            lines = "\n".join(filter(None, [affect_line(affect), lines]))
        if lines:
            oy = ty + (tb[3] - tb[1]) + 3 * line if ty > y else y + h + line + (tb[3] - tb[1]) + 3 * line
            draw.multiline_text((x + line, oy), lines, fill=(255, 255, 255), font=small, stroke_width=1, stroke_fill=(0, 0, 0))
    return img
