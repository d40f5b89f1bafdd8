"""``--explain``: per face, an occlusion-sensitivity heatmap PNG and a JSON sidecar with its numbers.

Files are ``<image stem>_face<i>.png`` and ``<image stem>_face<i>.json``. The sidecar holds
the explained label and probability, the method and its parameters, the raw probability drop
per patch position, the mean drop over the eye and mouth regions of the aligned crop, the colour
scale of the picture, and the record's ``rationale`` (action-unit text, when a component provides
it; empty otherwise: this module never writes text of its own).

The picture: the face aligned like the model's crop (in grey, :data:`FACE_SIDE` pixels), the drop
of the label's probability when that part is hidden drawn over it in colour, a title with the
face, label and probability, and a colour bar in probability-drop units. The colour scale is the
same for every face: 0 to ``vmax`` (default :data:`DEFAULT_VMAX` = 0.5, larger drops get the top
colour; ``vmax=None``: the largest drop over all faces of the image), so a face whose label
barely depends on any region stays nearly grey instead of being stretched to full colour.
Regions whose hiding raises the probability (negative drops) are left grey.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from affectlens.align import crop_whole_image, warp_face
from affectlens.models.explain import occlusion_sensitivity
from affectlens.models.uncertainty import split_row
from affectlens.viz.annotate import font

FACE_SIDE = 192  # pixels of the face in the heatmap picture
DEFAULT_VMAX = 0.5  # probability drop drawn in the top colour (and above)
MAX_ALPHA = 0.85  # opacity of the top colour over the face
# light yellow → orange → dark red, at 0, 1/4, 1/2, 3/4 and 1 of the scale (ColorBrewer YlOrRd)
RAMP = np.array([(255, 255, 178), (254, 204, 92), (253, 141, 60), (240, 59, 32), (189, 0, 38)], dtype=np.float64)
_FONT, _SMALL = 14, 12
FACE_TOP = _FONT + 10  # first pixel row of the face in the heatmap picture (below the title)
_BAR_W, _BAR_GAP, _TICK_W = 14, 8, 38


def heat_colours(heat: np.ndarray, vmax: float) -> tuple[np.ndarray, np.ndarray]:
    """Colour (..., 3) and opacity (...) of each probability drop in ``heat`` on the 0..``vmax``
    scale: the colour runs along :data:`RAMP`, the opacity from 0 (no drop) to :data:`MAX_ALPHA`
    (``vmax`` and above). A drop gets the same colour whatever face it belongs to."""
    if not vmax > 0:
        raise ValueError(f"heatmap scale maximum must be > 0, got {vmax}")
    t = np.clip(np.asarray(heat, dtype=np.float64) / vmax, 0.0, 1.0)
    pos = t * (len(RAMP) - 1)
    lo = np.minimum(np.floor(pos).astype(int), len(RAMP) - 2)
    frac = (pos - lo)[..., None]
    colour = RAMP[lo] * (1 - frac) + RAMP[lo + 1] * frac
    return colour, MAX_ALPHA * np.sqrt(t)


def blend(face_rgb: np.ndarray, heat: np.ndarray, vmax: float) -> np.ndarray:
    """``face_rgb`` in grey with ``heat`` (any square size, resized to the face's) in colour over it."""
    face = np.asarray(face_rgb, dtype=np.float64)
    side = face.shape[0]
    level = Image.fromarray(np.asarray(heat, dtype=np.float32), mode="F").resize((side, side), Image.BILINEAR)
    colour, alpha = heat_colours(np.asarray(level), vmax)
    grey = face.mean(axis=2, keepdims=True).repeat(3, axis=2)
    return np.uint8(np.clip((1 - alpha[..., None]) * grey + alpha[..., None] * colour, 0, 255) + 0.5)


def colour_bar(height: int, vmax: float) -> np.ndarray:
    """The bar (``height`` x bar-width RGB, ``vmax`` at the top row, 0 at the bottom row): the
    colour a mid-grey face pixel takes for each drop."""
    drops = np.linspace(vmax, 0.0, height)[:, None].repeat(_BAR_W, axis=1)
    colour, alpha = heat_colours(drops, vmax)
    return np.uint8(np.clip((1 - alpha[..., None]) * 128 + alpha[..., None] * colour, 0, 255) + 0.5)


def _ticks(vmax: float) -> list[float]:
    step = next(s for s in (0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1.0) if vmax / s <= 5)
    return [round(k * step, 6) for k in range(int(vmax / step + 1e-9) + 1)]


def heatmap_picture(face_rgb: np.ndarray, heat: np.ndarray, vmax: float, title: str, label: str) -> Image.Image:
    """The heatmap PNG of one face: ``title`` on top, the face with its heat, the colour bar
    with ticks (the top one ``0.5+``, as larger drops share its colour) and what it measures."""
    face = Image.fromarray(blend(face_rgb, heat, vmax))
    big, small = font(_FONT), font(_SMALL)
    top, bottom = FACE_TOP, _SMALL + 10
    width = FACE_SIDE + _BAR_GAP + _BAR_W + _TICK_W
    img = Image.new("RGB", (width, top + FACE_SIDE + bottom), (255, 255, 255))
    img.paste(face, (0, top))
    bar_x = FACE_SIDE + _BAR_GAP
    img.paste(Image.fromarray(colour_bar(FACE_SIDE, vmax)), (bar_x, top))
    draw = ImageDraw.Draw(img)
    draw.rectangle([bar_x - 1, top - 1, bar_x + _BAR_W, top + FACE_SIDE], outline=(0, 0, 0))
    draw.text((4, 4), title, fill=(0, 0, 0), font=big)
    ticks = _ticks(vmax)
    for v in ticks:
        y = top + (FACE_SIDE - 1) * (1 - v / vmax)
        draw.line([bar_x + _BAR_W, y, bar_x + _BAR_W + 3, y], fill=(0, 0, 0))
        text = f"{v:g}" + ("+" if v == ticks[-1] and v >= vmax - 1e-9 else "")
        draw.text((bar_x + _BAR_W + 5, y), text, fill=(0, 0, 0), font=small, anchor="lm")
    draw.text((4, top + FACE_SIDE + 4), f"drop in P({label}) when hidden", fill=(0, 0, 0), font=small)
    return img


def face_picture(analyzer, rgb: np.ndarray, face) -> np.ndarray:
    """The face aligned like the model's crop, in colour at :data:`FACE_SIDE` pixels (the whole
    image when there is no detector or no five landmarks, as the model saw it then)."""
    cfg = analyzer.model.cfg
    if analyzer.detector is None or len(face.landmarks) != 5:
        return crop_whole_image(rgb, FACE_SIDE, "rgb")
    scale = FACE_SIDE / cfg.input_size
    template = [(x * scale, y * scale) for x, y in cfg.template]
    return warp_face(rgb, face.landmark_array(), template, FACE_SIDE, "rgb")[0]


def explanation_record(expl, record: dict, template, size: int, heatmap_name: str, vmax: float = DEFAULT_VMAX) -> dict:
    """The JSON sidecar of one face (see module doc)."""
    row = split_row(template, size)
    peak = np.unravel_index(int(np.argmax(expl.heat)), expl.heat.shape)
    return {
        "source": record.get("source"),
        "face": record.get("face"),
        "box": record.get("box"),
        "label": expl.label,
        "prob": round(expl.prob, 4),
        "method": "occlusion sensitivity: grey patch slid over the aligned crop, drop of the label's probability",
        "crop_size": size,
        "patch": expl.patch,
        "stride": expl.stride,
        "positions": list(expl.positions),
        "drop_grid": np.round(expl.grid, 4).tolist(),
        "peak_crop_xy": [int(peak[1]), int(peak[0])],
        "peak_drop": round(float(expl.heat.max()), 4),
        "mean_drop_eyes_region": round(float(expl.heat[:row].mean()), 4),
        "mean_drop_mouth_region": round(float(expl.heat[row:].mean()), 4),
        "colour_scale": {
            "units": "probability drop",
            "min": 0.0,
            "max": round(float(vmax), 4),
            "same_for_all_faces": True,
        },
        "rationale": record.get("rationale") or "",
        "heatmap": heatmap_name,
    }


def image_vmax(explanations) -> float:
    """The largest probability drop over all faces of one image (at least 0.01): the scale used
    with ``vmax=None``."""
    return max([0.01] + [float(e.heat.max()) for e in explanations])


def write_explanations(
    analyzer, rgb: np.ndarray, result, records: list[dict], folder: Path, stem: str, vmax: float | None = DEFAULT_VMAX
) -> list[Path]:
    """Write the heatmap PNG and JSON sidecar of every face of one analysed image; the paths written.

    ``vmax``: the probability drop drawn in the top colour, the same for every face (default
    0.5); None: the largest drop over this image's faces.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = analyzer.model.cfg
    crops = analyzer.align(rgb, [fr.face for fr in result.faces])
    expls = [occlusion_sensitivity(analyzer.model, crop) for crop in crops]
    scale = image_vmax(expls) if vmax is None else vmax
    written = []
    for fr, expl, rec in zip(result.faces, expls, records):
        png = folder / f"{stem}_face{fr.index}.png"
        title = f"face {fr.index}: {expl.label} {expl.prob:.2f}"
        heatmap_picture(face_picture(analyzer, rgb, fr.face), expl.heat, scale, title, expl.label).save(png)
        side = folder / f"{stem}_face{fr.index}.json"
        record = explanation_record(expl, rec, cfg.template, cfg.input_size, png.name, scale)
        side.write_text(json.dumps(record, indent=1) + "\n")
        written += [png, side]
    return written
