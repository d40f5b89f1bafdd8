"""``--explain``: per face, an occlusion-sensitivity heatmap PNG and a JSON sidecar with its numbers.

Files are ``<image stem>_face<i>.png`` and ``<image stem>_face<i>.json``. The sidecar holds
the explained label and probability, the method and its parameters, the raw probability drop
per patch position, the mean drop over the eye and mouth regions of the aligned crop, and the
record's ``rationale`` (action-unit text, when a component provides it; empty otherwise: this
module never writes text of its own).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from affectlens.models.explain import occlusion_sensitivity
from affectlens.models.uncertainty import split_row


def explanation_record(expl, record: dict, template, size: int, heatmap_name: str) -> dict:
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
        "rationale": record.get("rationale") or "",
        "heatmap": heatmap_name,
    }


def write_explanations(analyzer, rgb: np.ndarray, result, records: list[dict], folder: Path, stem: str) -> list[Path]:
    """Write the heatmap PNG and JSON sidecar of every face of one analysed image; the paths written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cfg = analyzer.model.cfg
    faces = [fr.face for fr in result.faces]
    crops = analyzer.align(rgb, faces)
    written = []
    for fr, crop, rec in zip(result.faces, crops, records):
        expl = occlusion_sensitivity(analyzer.model, crop)
        png = folder / f"{stem}_face{fr.index}.png"
        analyzer.explain_overlay(rgb, fr.face, expl.heat).save(png)
        side = folder / f"{stem}_face{fr.index}.json"
        side.write_text(json.dumps(explanation_record(expl, rec, cfg.template, cfg.input_size, png.name), indent=1) + "\n")
        written += [png, side]
    return written
