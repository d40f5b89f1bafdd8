"""Confidence, abstention (``uncertain`` + reasons) and compound expressions: pure functions.

Per face, from the model's logits, its calibrated probabilities, the aligned crop and the
detected box/landmarks:

- ``confidence``: the calibrated top probability (softmax of logits / the model's temperature,
  per face when the model has a ``quality_temperature``: :mod:`affectlens.models.quality`).
- ``uncertain`` is true when at least one reason applies; ``uncertain_reason`` joins them with
  ``;`` in this order (empty when certain):

  ``ambiguous``
      top-two probability margin below ``margin`` (:func:`top2_margin`).
  ``small face``
      the box's shorter side below ``min_face_px`` pixels.
  ``turned``
      ``|yaw|`` estimated from the 5 landmarks (:func:`yaw_from_landmarks`) above ``max_yaw_deg``.
  ``occluded``
      the evidence left in the eye region or in the mouth region alone is unusually low
      (:func:`region_energies`: the energy score of the crop with the *other* region replaced by
      grey, above ``eyes_energy`` or ``mouth_energy``), or that region is unusually flat
      (:func:`region_texture`: median local contrast below ``eyes_texture`` or
      ``mouth_texture``). A covered mouth or covered eyes leave that region without expression
      evidence, and plain covers (masks, scarves, sunglasses, paper) without texture; measured
      on real test faces with synthetic occluders in ``benchmarks/calibration.py``.
  ``unknown class``
      open-set check: the largest raw logit below ``min_max_logit`` (:func:`max_logit`); faces
      showing none of the known expressions, or no face at all, give low logits.

- ``compound``: ``"a+b"`` (top label first) when the top-two margin is below
  ``compound_margin``, else the top label.

Every threshold is fitted on the validation split by :mod:`affectlens.eval.abstention` (the
rules are written there) and stored in the model's ``models.json`` entry under
``thresholds``. A threshold missing from the config disables its reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

REASONS = ("ambiguous", "small face", "turned", "occluded", "unknown class")


@dataclass(frozen=True)
class Thresholds:
    """Abstention and compound thresholds of one model (None = that check is off)."""

    margin: float | None = None
    min_face_px: float | None = None
    max_yaw_deg: float | None = None
    eyes_energy: float | None = None
    mouth_energy: float | None = None
    eyes_texture: float | None = None
    mouth_texture: float | None = None
    min_max_logit: float | None = None
    compound_margin: float | None = None

    @classmethod
    def from_config(cls, data: dict | None) -> Thresholds:
        """From a ``models.json`` ``thresholds`` entry (extra keys such as ``rules`` are ignored)."""
        data = data or {}
        names = {f.name for f in fields(cls)}
        return cls(**{k: (None if v is None else float(v)) for k, v in data.items() if k in names})


# -- signals (pure) ------------------------------------------------------------------------
def top2_margin(probs) -> np.ndarray:
    """Top probability minus the second one, per row (0 = a tie, 1 = all mass on one label)."""
    p = np.sort(np.asarray(probs, dtype=np.float64), axis=-1)
    return p[..., -1] - p[..., -2]


def entropy(probs) -> np.ndarray:
    """Shannon entropy in nats, per row."""
    p = np.asarray(probs, dtype=np.float64)
    return -(p * np.log(np.clip(p, 1e-12, None))).sum(axis=-1)


def max_logit(logits) -> np.ndarray:
    """The largest raw logit per row (open-set score: low = none of the known classes)."""
    return np.asarray(logits, dtype=np.float64).max(axis=-1)


def energy(logits) -> np.ndarray:
    """Energy score ``-logsumexp(logits)`` per row (Liu et al. 2020): high = little evidence."""
    z = np.asarray(logits, dtype=np.float64)
    m = z.max(axis=-1, keepdims=True)
    return -(m[..., 0] + np.log(np.exp(z - m).sum(axis=-1)))


def yaw_from_landmarks(landmarks, depth_ratio: float = 0.5) -> float:
    """Head yaw in degrees from 5 landmarks (eyes, nose tip, mouth corners); + = nose to image right.

    The midline runs from the midpoint of the eyes to the midpoint of the mouth corners. The
    nose tip's signed distance ``d`` from that line, measured along the eye axis and divided by
    the inter-ocular distance ``e``, grows like ``tan(yaw)`` for a nose tip that stands
    ``depth_ratio * e`` in front of the eye/mouth plane (a rough anthropometric constant):
    ``yaw = atan((d / e) / depth_ratio)``. Rough by design (a 5-point estimate, no 3D model);
    returns ``nan`` without 5 landmarks or with coincident eyes.
    """
    pts = np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
    if len(pts) != 5:
        return float("nan")
    le, re, nose, lm, rm = pts
    axis = re - le
    e = float(np.hypot(*axis))
    if e <= 1e-9:
        return float("nan")
    eye_mid, mouth_mid = (le + re) / 2, (lm + rm) / 2
    down = mouth_mid - eye_mid
    if float(np.hypot(*down)) <= 1e-9:
        down = np.array([-axis[1], axis[0]])
    down = down / np.hypot(*down)
    rel = nose - eye_mid
    perp = rel - (rel @ down) * down  # the nose's offset from the midline
    d = float(perp @ (axis / e))
    return math.degrees(math.atan((d / e) / depth_ratio))


def split_row(template, size: int) -> int:
    """The crop row separating the eye region (above) from the mouth region: 2 px above the nose tip."""
    nose_y = float(np.asarray(template, dtype=np.float64)[2, 1])
    return int(min(size - 1, max(1, math.floor(nose_y) - 2)))


def mask_region(crops: np.ndarray, region: str, row: int, fill: int = 128) -> np.ndarray:
    """Copies of uint8 crops with the ``eyes`` (rows above ``row``) or ``mouth`` region set to grey."""
    out = np.array(crops, copy=True)
    if region == "eyes":
        out[:, :row] = fill
    elif region == "mouth":
        out[:, row:] = fill
    else:
        raise ValueError(f"region {region!r} is not valid; valid: eyes, mouth")
    return out


def region_energies(model, crops: np.ndarray, batch: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """(eyes-only energy, mouth-only energy) per crop: the energy of the crop with the other region grey.

    ``model`` is an :class:`~affectlens.models.expression.ExpressionModel`. Two extra forward
    passes per face.
    """
    if len(crops) == 0:
        return np.zeros(0), np.zeros(0)
    row = split_row(model.cfg.template, model.cfg.input_size)
    eyes, mouth = [], []
    for i in range(0, len(crops), batch):  # bounded batches: memory stays flat for big face sets
        part = crops[i : i + batch]
        both = np.concatenate([mask_region(part, "mouth", row), mask_region(part, "eyes", row)])
        e = energy(model.forward(model.preprocess(both)))
        eyes.append(e[: len(part)])
        mouth.append(e[len(part) :])
    return np.concatenate(eyes), np.concatenate(mouth)


def region_boxes(template, size: int) -> dict[str, tuple[slice, slice]]:
    """Eye and mouth boxes (rows, cols) of the aligned crop, from the template.

    Columns: from 0.1 * size left of the left eye to 0.1 * size right of the right eye. Eyes:
    rows from 0.1 * size above the eyes to :func:`split_row`; mouth: from there to 0.15 * size
    below the mouth corners.
    """
    t = np.asarray(template, dtype=np.float64)
    row = split_row(template, size)
    c0, c1 = max(0, round(t[0, 0] - 0.1 * size)), min(size, round(t[1, 0] + 0.1 * size))
    eye_top = max(0, round(min(t[0, 1], t[1, 1]) - 0.1 * size))
    mouth_bottom = min(size, round(max(t[3, 1], t[4, 1]) + 0.15 * size))
    return {"eyes": (slice(eye_top, row), slice(c0, c1)), "mouth": (slice(row, mouth_bottom), slice(c0, c1))}


def tile_contrast(region: np.ndarray, tile: int) -> np.ndarray:
    """Median over ``tile`` x ``tile`` tiles of the pixel standard deviation, per image of (N, H, W)."""
    a = np.asarray(region, dtype=np.float64)
    h, w = a.shape[1] // tile * tile, a.shape[2] // tile * tile
    if h == 0 or w == 0:
        return np.full(len(a), np.nan)
    a = a[:, :h, :w].reshape(len(a), h // tile, tile, w // tile, tile).transpose(0, 1, 3, 2, 4)
    return np.median(a.reshape(len(a), -1, tile * tile).std(axis=2), axis=1)


def region_texture(crops: np.ndarray, template, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(eyes, mouth) median local contrast of uint8 crops (grey, or RGB averaged), in grey levels.

    Tiles are ``size // 12`` pixels (4 px on a 48 px crop). A plain cover gives values near 0.
    """
    c = np.asarray(crops, dtype=np.float64)
    if c.ndim == 4:
        c = c.mean(axis=3)
    if len(c) == 0:
        return np.zeros(0), np.zeros(0)
    tile = max(2, size // 12)
    boxes = region_boxes(template, size)
    return tuple(tile_contrast(c[:, rows, cols], tile) for rows, cols in (boxes["eyes"], boxes["mouth"]))


def compound_label(probs, labels, compound_margin: float | None) -> str:
    """``"top+second"`` when their probabilities differ by less than ``compound_margin``, else ``top``."""
    p = np.asarray(probs, dtype=np.float64)
    order = np.argsort(-p, kind="stable")
    top = labels[int(order[0])]
    if compound_margin is None or len(p) < 2 or p[order[0]] - p[order[1]] >= compound_margin:
        return top
    return f"{top}+{labels[int(order[1])]}"


def uncertain_reasons(
    t: Thresholds,
    margin: float,
    size: float,
    yaw: float,
    eyes_energy: float,
    mouth_energy: float,
    top_logit: float,
    eyes_texture: float = float("nan"),
    mouth_texture: float = float("nan"),
) -> tuple[str, ...]:
    """The reasons (in :data:`REASONS` order) that apply to one face's signals."""
    out = []
    if t.margin is not None and margin < t.margin:
        out.append("ambiguous")
    if t.min_face_px is not None and size < t.min_face_px:
        out.append("small face")
    if t.max_yaw_deg is not None and not math.isnan(yaw) and abs(yaw) > t.max_yaw_deg:
        out.append("turned")
    if (
        (t.eyes_energy is not None and eyes_energy > t.eyes_energy)
        or (t.mouth_energy is not None and mouth_energy > t.mouth_energy)
        or (t.eyes_texture is not None and eyes_texture < t.eyes_texture)
        or (t.mouth_texture is not None and mouth_texture < t.mouth_texture)
    ):
        out.append("occluded")
    if t.min_max_logit is not None and top_logit < t.min_max_logit:
        out.append("unknown class")
    return tuple(out)


def occlusion_signals(model, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(eyes energy, mouth energy, eyes texture, mouth texture) per crop, the inputs of the
    ``occluded`` reason: :func:`region_energies` (NaN, without the extra passes, when the model's
    thresholds do not use them) and :func:`region_texture`."""
    t = Thresholds.from_config(model.cfg.thresholds)
    if t.eyes_energy is not None or t.mouth_energy is not None:
        eyes_e, mouth_e = region_energies(model, crops)
    else:
        eyes_e = mouth_e = np.full(len(crops), np.nan)
    eyes_t, mouth_t = region_texture(crops, model.cfg.template, model.cfg.input_size)
    return eyes_e, mouth_e, eyes_t, mouth_t


def logits_and_signals(
    model, crops: np.ndarray, energies: bool | np.ndarray = True
) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """``(logits, occlusion signals)`` of uint8 crops with one forward call for all of them.

    The same values as ``model.forward(model.preprocess(crops))`` and
    :func:`occlusion_signals`, but the crops, their eyes-only and mouth-only copies (and, with
    the model's ``flip_tta``, the mirrors of all three) go through the model as one batch, so a
    video frame makes one classifier call however many faces it has. ``energies`` (one bool, or
    one per crop) says which crops get the copies; the others' two energies are NaN (video
    reuses a followed face's last ones).
    """
    t = Thresholds.from_config(model.cfg.thresholds)
    n = len(crops)
    want = np.broadcast_to(np.asarray(energies, dtype=bool), (n,))
    eyes_t, mouth_t = region_texture(crops, model.cfg.template, model.cfg.input_size)
    eyes_e, mouth_e = np.full(n, np.nan), np.full(n, np.nan)
    if not want.any() or (t.eyes_energy is None and t.mouth_energy is None):
        return model.forward(model.preprocess(crops)), (eyes_e, mouth_e, eyes_t, mouth_t)
    row = split_row(model.cfg.template, model.cfg.input_size)
    some = crops[want]
    k = len(some)
    out = model.forward(
        model.preprocess(np.concatenate([crops, mask_region(some, "mouth", row), mask_region(some, "eyes", row)]))
    )
    eyes_e[want], mouth_e[want] = energy(out[n : n + k]), energy(out[n + k :])
    return out[:n], (eyes_e, mouth_e, eyes_t, mouth_t)


def assess_faces(
    model,
    faces,
    crops: np.ndarray | None,
    logits: np.ndarray,
    probs: np.ndarray | None = None,
    signals: tuple[np.ndarray, ...] | None = None,
) -> list:
    """One :class:`~affectlens.types.Affect` per face.

    ``probs`` defaults to the calibrated probabilities of ``logits``; video passes its smoothed
    probabilities, so valence, arousal, confidence, compound and ``ambiguous`` follow them while
    the other reasons come from the frame itself. ``signals`` are :func:`occlusion_signals` of
    ``crops`` when already computed (video computes them in its parallel per-frame stage).
    """
    from affectlens.models.valence_arousal import valence_arousal
    from affectlens.types import Affect

    labels = model.cfg.labels
    logits = np.asarray(logits, dtype=np.float64).reshape(len(faces), len(labels))
    probs = (
        model.postprocess(logits, crops) if probs is None else np.asarray(probs, dtype=np.float64).reshape(logits.shape)
    )
    t = Thresholds.from_config(model.cfg.thresholds)
    va = valence_arousal(probs, labels)
    margins = top2_margin(probs) if len(faces) else np.zeros(0)
    top = max_logit(logits) if len(faces) else np.zeros(0)
    eyes_e, mouth_e, eyes_t, mouth_t = occlusion_signals(model, crops) if signals is None else signals
    out = []
    for i, face in enumerate(faces):
        yaw = yaw_from_landmarks(face.landmarks) if len(face.landmarks) == 5 else float("nan")
        reasons = uncertain_reasons(
            t,
            float(margins[i]),
            face.size,
            yaw,
            float(eyes_e[i]),
            float(mouth_e[i]),
            float(top[i]),
            float(eyes_t[i]),
            float(mouth_t[i]),
        )
        out.append(
            Affect(
                valence=float(va[i, 0]),
                arousal=float(va[i, 1]),
                confidence=float(probs[i].max()),
                uncertain=bool(reasons),
                uncertain_reason=";".join(reasons),
                compound=compound_label(probs[i], labels, t.compound_margin),
            )
        )
    return out
