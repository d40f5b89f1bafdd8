"""FACS action-unit intensities from face-mesh geometry, and a rationale built from them.

What this is: a geometric estimate, not a FACS coder. Each action unit is a measured distance
or ratio between face-mesh points (:mod:`affectlens.models.landmarks`), taken in the face's
own frontal frame (the 3D mesh rotated by the inverse of its head pose, so turning the head does
not change it) and divided by the inter-ocular distance (the 3D distance between the two outer
eye corners, ``IOD``), so face size does not change it either. Appearance-only action units
(AU7 lid tightener, AU10, AU14, AU23 …) are not estimated.

The measures were chosen by their separation of FER+ *train* faces (never test faces); e.g.
the brows drawing together (AU4's second component in FACS) is left out because on those faces
it did not separate anger from happiness. Coordinates below: ``y`` grows downward in the frontal frame, ``x`` toward the image's right;
``y(p)`` is the mean over both sides of the named point pair; all distances are divided by IOD,
``H = y(subnasale) - eye line`` is the face's own eye-to-nose height (eye line: the mean ``y``
of the four eye corners) and ``aperture`` is lid to lid over the eye's width.

| AU | name | raw measure (larger = more of the AU) |
|---|---|---|
| AU1 | inner brow raiser | ``(y(inner eye corner) - y(inner brow)) / H`` |
| AU2 | outer brow raiser | ``(y(outer eye corner) - y(outer brow)) / H`` |
| AU4 | brow lowerer | ``-(y(upper lid) - y(mid brow))``: the brow comes down toward the eye |
| AU5 | upper lid raiser | ``aperture``: ``(y(lower lid) - y(upper lid)) / eye width`` |
| AU6 | cheek raiser | the cheek rise ``(eye line - y(cheek)) / H`` mixed with the eye narrowing ``-aperture`` (below) |
| AU9 | nose wrinkler | ``-(y(nose wing) - y(inner eye corner))``: the nose wings rise |
| AU12 | lip corner puller | ``y(upper lip centre, inner) - y(mouth corners) + width(mouth) / 2`` |
| AU15 | lip corner depressor | ``y(mouth corners) - y(upper lip centre, inner)`` |
| AU17 | chin raiser | ``-(y(chin) - y(lower lip centre, outer))`` |
| AU20 | lip stretcher | ``width(mouth)`` (mouth corner to corner; also grows in smiles) |
| AU25 | lips part | ``y(lower lip, inner) - y(upper lip, inner)`` |
| AU26 | jaw drop | ``y(chin) - y(upper lip centre, outer)`` |
| AU43 | eyes closed | ``-aperture`` (one frame cannot tell a blink, AU45, from closure) |

**Brow and cheek heights over H.** How far brows and cheeks sit from the eyes, in eye distances,
depends on the face's proportions (a long face has them farther apart) and on any pitch the
frontal frame did not remove (which shortens every vertical distance alike). Divided by the
face's own vertical eye-to-nose height, both cancel. Over the eye distance, the neutral start of
the smile clip read AU1 0.31 and AU2 0.20 (his brows sat higher than those of 9 in 10 neutral
FER+ faces); over H they read 0 (``benchmarks/results/au_real_media.json``).

**AU6 from two cues.** FACS AU6 lifts the cheek and pushes the lower lid up, narrowing the eye
from below. Each cue alone varies with face shape about as much as a smile moves it (the smile
clip's broad smile read 0.05 on the cheek rise alone over the eye distance), but the two vary
with shape largely independently while a smile moves both, so their mix spreads less over
neutral faces. Each is put in units of its spread over FER+ train neutral faces,
``z = (measure - median) / SD`` (:data:`AU6_PARTS`), and
``AU6 = (1 - s) * z(cheek rise) + s * z(eye narrowing)`` with ``s`` =
:data:`AU6_NARROWING_SHARE`, the share among :data:`AU6_SHARES` that separates happiness from
neutral best on those faces (:func:`fit_cheek_raiser`). The narrowing also comes with blinks and
squints (AU7), so AU6 without a cheek rise stays low but not zero.

Intensity: ``clip((raw - zero) / width, 0, 1)``, fitted on FER+ *train* faces at their native
48x48 pixels through the same path photos take (YuNet detection, then the mesh around the box;
``python benchmarks/au_validity.py --fit`` reproduces :data:`REFERENCE`):

- ``zero`` is the 90th percentile of the measure over faces labelled neutral
  (:data:`NEUTRAL_PERCENTILE`). People's neutral faces differ in shape (brow height, eye
  opening, chin length) about as much as an expression moves one face, and from one photo
  geometry cannot tell the two apart; so a face reads above 0 only where its measure lies beyond
  9 in 10 neutral faces. Measuring the median neutral face instead (the scale before) made half
  of all neutral faces read above 0 and two fifths to nine tenths of the neutral faces of a sharp
  group photo read 0.2 or more on AU4, AU12, AU20, AU26 and AU43.
- ``zero + width`` (intensity 1) is the 95th percentile of all faces (:data:`HIGH_PERCENTILE`),
  where the strongest expressions take the measure, but at least one neutral range above
  ``zero``: ``width = max(p95(all) - zero, zero - p10(neutral))`` (:data:`LOW_PERCENTILE`). The
  spread of neutral faces is how far face shape alone moves a measure, so no AU reaches 1 by a
  smaller movement; this floor applies to the measures that separate expressions weakly (AU1,
  AU2, AU4, AU5, AU9, AU17, AU26), where the 95th percentile of all faces lies barely beyond the
  90th of neutral ones. (The first refit put 1 one "median neutral face to 95th percentile of
  all faces" step above ``zero``, beyond nearly every face: a broad smile read AU12 0.86 and AU6
  below 0.5.) AU43 is the exception: 1 means the lids touch (aperture 0), so ``width = -zero``.
- **AU26** is credited only as far as the lips part: the reported AU26 is ``min(AU26, AU25)``.
  The chin-to-lip distance alone cannot tell a dropped jaw from a long chin or a beard.

The zero and width are stored as ``(zero, zero + width)`` per AU. In video,
:class:`NeutralBaseline` replaces the population ``zero`` by the person's own neutral (a low
percentile of their recent raw measures): once the face's own shape is known, no allowance for
other people's shapes is needed, so subtle changes (e.g. a cheek raise that stays within the
population's neutral range) show.

Rationales weigh each AU by how well its measure separates expressions from neutral faces
(:data:`RATIONALE_WEIGHT`): the largest Cohen's d, on FER+ train faces, of the AU's prototype
expressions over neutral (any expression for AUs in no prototype), divided by 0.8 (a large effect)
and capped at 1. An AU is cited from ``ACTIVE / weight`` on, so an AU that face shape confounds
(d well below 0.8, e.g. AU5, AU17, AU26) needs a strong reading before a rationale names it.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from affectlens.models.landmarks import MESH_POINTS, face_axes
from affectlens.types import ActionUnits

#: The estimated action units, in FACS order.
AU_NAMES = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26", "AU43")
#: An action unit counts as active in a rationale from this intensity on, divided by its
#: :data:`RATIONALE_WEIGHT` (see :func:`cited_from`); annotations show AUs from it on.
ACTIVE = 0.2

# Mesh point pairs (subject's right, subject's left) and single points (MediaPipe topology).
_P = {
    "eye_outer": (33, 263),
    "eye_inner": (133, 362),
    "lid_upper": (159, 386),
    "lid_lower": (145, 374),
    "brow_inner": (107, 336),
    "brow_mid": (105, 334),
    "brow_outer": (70, 300),
    "cheek": (118, 347),
    "nose_wing": (129, 358),
    "mouth_corner": (61, 291),
}
_UPPER_LIP_IN, _LOWER_LIP_IN, _UPPER_LIP_OUT, _LOWER_LIP_OUT, _CHIN, _SUBNASALE = 13, 14, 0, 17, 152, 2
_J25, _J26 = AU_NAMES.index("AU25"), AU_NAMES.index("AU26")

#: Percentile of neutral faces' measures that reads 0 (see the module docstring).
NEUTRAL_PERCENTILE = 90.0
#: Percentile of all faces' measures that reads 1 (``zero + width``), see :func:`fit_reference`.
HIGH_PERCENTILE = 95.0
#: Low end of the neutral range: ``width`` is at least ``zero`` minus this percentile of neutral faces.
LOW_PERCENTILE = 10.0
#: Cohen's d counted as a large effect (Cohen 1988): an AU at or above it has rationale weight 1.
LARGE_D = 0.8
#: AUs whose intensity 1 is a geometric end point, not a percentile: the lids touching (raw 0).
CLOSED_AT_ZERO = ("AU43",)

#: (zero, zero + width) raw values per action unit, fitted by :func:`fit_reference` on FER+ train
#: faces at 48 px through the photo path (``python benchmarks/au_validity.py --fit``: at most 300
#: per class). Zeros of AU4 … AU43 and their 95th percentiles of all faces come from the full run
#: (2,022 faces with a mesh; its 289 neutral faces re-measured reproduce every zero to 1e-4). AU1,
#: AU2 and AU6 (new measures) were fitted on the part of that sample re-measured on a shared CPU:
#: all 289 neutral faces with a mesh, 99 happiness and 102 contempt faces; their widths are the
#: neutral range (the floor), which needs neutral faces only. A full ``--fit`` run reprints all.
REFERENCE: dict[str, tuple[float, float]] = {
    "AU1": (0.6799, 0.8401),
    "AU2": (0.4164, 0.5233),
    "AU4": (-0.1830, -0.1230),
    "AU5": (0.3556, 0.4385),
    "AU6": (0.7571, 2.1885),
    "AU9": (-0.3326, -0.2696),
    "AU12": (0.2674, 0.3335),
    "AU15": (0.0466, 0.0812),
    "AU17": (-0.2776, -0.1775),
    "AU20": (0.5728, 0.6826),
    "AU25": (0.0495, 0.1866),
    "AU26": (0.5793, 0.6817),
    "AU43": (-0.2728, 0.0000),
}

#: AU6's two parts, (median, SD) over the 289 FER+ train neutral faces with a mesh, fitted by
#: :func:`fit_cheek_raiser`: AU6's raw measure is their mix in units of these SDs.
AU6_PARTS: dict[str, tuple[float, float]] = {
    "cheek_rise": (-0.4333, 0.0177),
    "eye_narrowing": (-0.3144, 0.0319),
}
#: Share of the eye narrowing in AU6 (the rest is the cheek rise), fitted by :func:`fit_cheek_raiser`
#: (Cohen's d of happiness over neutral on the faces above: 1.85 in the full refit; 2.14 on the
#: partial sample it was first fitted on, where the cheek rise alone gave 1.50, the narrowing 1.10).
AU6_NARROWING_SHARE = 0.45
#: Shares tried by :func:`fit_cheek_raiser`: at most one half, so the cheek, the AU's defining
#: movement, never counts less than the narrowing (which blinks and AU7 also cause).
AU6_SHARES = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5)

#: Weight of each AU in rationales, fitted by :func:`fit_weights` (same faces as REFERENCE: 2,022
#: FER+ train faces with a mesh, at most 300 per class).
RATIONALE_WEIGHT: dict[str, float] = {
    "AU1": 0.57,  # d = 0.46
    "AU2": 1.00,  # d = 0.92
    "AU4": 0.93,  # d = 0.75
    "AU5": 0.35,  # d = 0.28
    "AU6": 1.00,  # d = 1.85
    "AU9": 0.60,  # d = 0.48
    "AU12": 1.00,  # d = 1.70
    "AU15": 0.79,  # d = 0.63
    "AU17": 0.45,  # d = 0.36
    "AU20": 0.91,  # d = 0.73
    "AU25": 1.00,  # d = 1.19
    "AU26": 0.67,  # d = 0.53
    "AU43": 1.00,  # d = 1.01
}

#: EMFACS-style prototype action units per expression, restricted to the ones estimated here.
PROTOTYPES = {
    "happiness": ("AU6", "AU12"),
    "surprise": ("AU1", "AU2", "AU5", "AU25", "AU26"),
    "sadness": ("AU1", "AU4", "AU15", "AU17"),
    "anger": ("AU4", "AU5", "AU17"),
    "disgust": ("AU9", "AU15", "AU17"),
    "fear": ("AU1", "AU2", "AU4", "AU5", "AU20", "AU25", "AU26"),
    "contempt": ("AU12",),
    "neutral": (),
}


def frontal(points: np.ndarray) -> np.ndarray:
    """Mesh points in the face's frontal frame, centred and divided by the inter-ocular distance."""
    p = np.asarray(points, dtype=np.float64)
    iod = float(np.linalg.norm(p[_P["eye_outer"][1]] - p[_P["eye_outer"][0]]))
    q = (p - p.mean(0)) @ face_axes(p)
    return q / iod


def cues(points: np.ndarray) -> dict[str, float]:
    """The named geometric measures of one face mesh (all NaN without a mesh).

    Keys: each AU's measure before AU6 is assembled (see the module docstring), plus
    ``"cheek_rise"`` and ``"eye_narrowing"``, the two parts of AU6.
    """
    if len(points) < MESH_POINTS:
        return dict.fromkeys((*AU_NAMES, "cheek_rise", "eye_narrowing"), math.nan)
    q = frontal(points)

    def y(name):
        a, b = _P[name]
        return (q[a, 1] + q[b, 1]) / 2.0

    def gap(name):
        a, b = _P[name]
        return abs(q[b, 0] - q[a, 0])

    eye_line = (y("eye_outer") + y("eye_inner")) / 2.0
    eye_to_nose = q[_SUBNASALE, 1] - eye_line  # the vertical reference of AU1, AU2 and AU6
    width_r = np.linalg.norm(q[133, :2] - q[33, :2])
    width_l = np.linalg.norm(q[263, :2] - q[362, :2])
    aperture = ((q[145, 1] - q[159, 1]) / width_r + (q[374, 1] - q[386, 1]) / width_l) / 2.0
    mouth_w = gap("mouth_corner")
    corner_up = q[_UPPER_LIP_IN, 1] - y("mouth_corner")
    return {
        "AU1": (y("eye_inner") - y("brow_inner")) / eye_to_nose,
        "AU2": (y("eye_outer") - y("brow_outer")) / eye_to_nose,
        "AU4": -(y("lid_upper") - y("brow_mid")),
        "AU5": aperture,
        "AU9": -(y("nose_wing") - y("eye_inner")),
        "AU12": corner_up + mouth_w / 2.0,
        "AU15": -corner_up,
        "AU17": -(q[_CHIN, 1] - q[_LOWER_LIP_OUT, 1]),
        "AU20": mouth_w,
        "AU25": q[_LOWER_LIP_IN, 1] - q[_UPPER_LIP_IN, 1],
        "AU26": q[_CHIN, 1] - q[_UPPER_LIP_OUT, 1],
        "AU43": -aperture,
        "cheek_rise": (eye_line - y("cheek")) / eye_to_nose,
        "eye_narrowing": -aperture,
    }


def cheek_raiser(cheek_rise, eye_narrowing, parts=None, share=None):
    """AU6's raw measure from its two parts (scalars or arrays): each in units of the spread of
    neutral faces (:data:`AU6_PARTS`), mixed with :data:`AU6_NARROWING_SHARE` for the narrowing."""
    parts = AU6_PARTS if parts is None else parts
    share = AU6_NARROWING_SHARE if share is None else share
    (mc, sc), (mn, sn) = parts["cheek_rise"], parts["eye_narrowing"]
    return (1.0 - share) * (np.asarray(cheek_rise) - mc) / sc + share * (np.asarray(eye_narrowing) - mn) / sn


def raw_measures(points: np.ndarray) -> np.ndarray:
    """The raw geometric measure of every action unit in :data:`AU_NAMES` (NaN without a mesh)."""
    c = cues(points)
    c["AU6"] = float(cheek_raiser(c["cheek_rise"], c["eye_narrowing"]))
    return np.array([c[n] for n in AU_NAMES], dtype=np.float64)


def intensities(raw: np.ndarray, neutral: np.ndarray | None = None) -> np.ndarray:
    """Raw measures (one face, or one per row) → intensities in [0, 1] (NaN stays NaN).

    ``neutral`` replaces the population zero (e.g. a person's own baseline); the width is
    always the population one. AU26 is capped by AU25 (see the module docstring).
    """
    zero = np.array([REFERENCE[n][0] for n in AU_NAMES])
    width = np.array([REFERENCE[n][1] - REFERENCE[n][0] for n in AU_NAMES])
    base = zero if neutral is None else np.where(np.isnan(neutral), zero, neutral)
    with np.errstate(invalid="ignore"):
        out = np.clip((np.asarray(raw, dtype=np.float64) - base) / width, 0.0, 1.0)
    out[..., _J26] = np.minimum(out[..., _J26], out[..., _J25])
    return out


def fit_reference(raws: np.ndarray, labels) -> dict[str, tuple[float, float]]:
    """:data:`REFERENCE` from raw measures (N, 13) of labelled faces (rows with NaN are ignored)."""
    raws, labels = _valid(raws, labels)
    neutral = raws[labels == "neutral"]
    zero = np.percentile(neutral, NEUTRAL_PERCENTILE, axis=0)
    width = np.maximum(
        np.percentile(raws, HIGH_PERCENTILE, axis=0) - zero, zero - np.percentile(neutral, LOW_PERCENTILE, axis=0)
    )
    out = {}
    for j, n in enumerate(AU_NAMES):
        one = 0.0 if n in CLOSED_AT_ZERO else zero[j] + width[j]
        if not one > zero[j]:
            raise ValueError(f"{n}: every labelled face has the same measure ({zero[j]:.4f}); no scale can be fitted")
        out[n] = (float(zero[j]), float(one))
    return out


def fit_weights(raws: np.ndarray, labels) -> tuple[dict[str, float], dict[str, float]]:
    """(:data:`RATIONALE_WEIGHT`, the Cohen's d behind each weight) from labelled raw measures."""
    from affectlens.eval.metrics import cohens_d

    raws, labels = _valid(raws, labels)
    neutral = labels == "neutral"
    weights, ds = {}, {}
    for j, n in enumerate(AU_NAMES):
        classes = [c for c, aus in PROTOTYPES.items() if n in aus] or [c for c in PROTOTYPES if c != "neutral"]
        d = max(cohens_d(raws[labels == c, j], raws[neutral, j]) for c in classes)
        ds[n] = float(d)
        weights[n] = float(min(1.0, max(d, 0.0) / LARGE_D))
    return weights, ds


def fit_cheek_raiser(cheek_rise, eye_narrowing, labels) -> tuple[dict[str, tuple[float, float]], float, float]:
    """(:data:`AU6_PARTS`, :data:`AU6_NARROWING_SHARE`, the Cohen's d it reaches) from labelled faces.

    Each part's (median, SD) is taken over the neutral faces; the share is the one of
    :data:`AU6_SHARES` whose mix separates happiness from neutral best (largest Cohen's d).
    """
    from affectlens.eval.metrics import cohens_d

    parts2, labels = _valid(np.column_stack([cheek_rise, eye_narrowing]), labels)
    neutral = parts2[labels == "neutral"]
    parts = {
        name: (float(np.median(neutral[:, j])), float(np.std(neutral[:, j])))
        for j, name in enumerate(("cheek_rise", "eye_narrowing"))
    }
    ds = {}
    for share in AU6_SHARES:
        mixed = cheek_raiser(parts2[:, 0], parts2[:, 1], parts, share)
        ds[share] = cohens_d(mixed[labels == "happiness"], mixed[labels == "neutral"])
    best = max(ds, key=ds.get)
    return parts, float(best), float(ds[best])


def _valid(raws, labels) -> tuple[np.ndarray, np.ndarray]:
    raws, labels = np.asarray(raws, dtype=np.float64), np.asarray(labels)
    ok = ~np.isnan(raws).any(axis=1)
    if not (labels[ok] == "neutral").any():
        raise ValueError("fitting the action-unit scale needs faces labelled 'neutral' with a mesh; got none")
    return raws[ok], labels[ok]


def estimate(points: np.ndarray, neutral: np.ndarray | None = None) -> ActionUnits:
    """Action units of one face mesh (all NaN when ``points`` is empty)."""
    raw = raw_measures(points)
    return ActionUnits(
        names=AU_NAMES, values=tuple(float(v) for v in intensities(raw, neutral)), raw=tuple(float(v) for v in raw)
    )


def cited_from(name: str, threshold: float = ACTIVE) -> float:
    """The intensity from which a rationale cites ``name``: ``threshold / RATIONALE_WEIGHT`` (at most 1)."""
    return min(1.0, threshold / RATIONALE_WEIGHT[name]) if RATIONALE_WEIGHT[name] > 0 else 1.0


def rationale(aus: ActionUnits, expression: str, threshold: float = ACTIVE) -> str:
    """One line built only from measured values: the expression's prototype AUs that are active.

    ``"AU6 0.71 + AU12 0.90 -> happiness"``; an AU is active from :func:`cited_from` on
    (``threshold`` for AUs that separate expressions well, more for those face shape confounds).
    When none is active, or none could be measured, it says so (``"no prototype AU of anger
    (AU4, AU5, AU17) at or above 0.20 -> anger (appearance only)"``). Values are printed with
    two decimals.
    """
    proto = PROTOTYPES.get(expression, ())
    values = aus.as_dict()
    if not values or all(math.isnan(v) for v in values.values()):
        return f"AUs not measured -> {expression} (appearance only)"

    def active(names):
        return [n for n in names if values.get(n, math.nan) >= cited_from(n, threshold)]

    if not proto:
        on = active(AU_NAMES)
        if not on:
            return f"no AU at or above {threshold:.2f} -> {expression}"
        return f"{expression} despite " + " + ".join(f"{n} {values[n]:.2f}" for n in on)
    on = active(proto)
    if not on:
        return (
            f"no prototype AU of {expression} ({', '.join(proto)}) at or above {threshold:.2f} "
            f"-> {expression} (appearance only)"
        )
    return " + ".join(f"{n} {values[n]:.2f}" for n in on) + f" -> {expression}"


#: Percentile of a person's recent raw measures taken as their neutral reference: a low one
#: (their least-expressive moments) except where the opposite side of the same measure is
#: another AU or where short events would pull it (blinks for AU5, smiles for AU15), which
#: take the median (their typical face).
BASELINE_PERCENTILE = {n: (50.0 if n in ("AU5", "AU15", "AU43") else 10.0) for n in AU_NAMES}


class NeutralBaseline:
    """Per-track neutral reference for video, from the track's last ``window`` frames with a mesh.

    ``update(track, raw)`` adds one frame's raw measures and returns the track's current
    baseline per AU (:data:`BASELINE_PERCENTILE` of the window; NaN until ``min_frames`` frames
    are seen, which makes :func:`intensities` fall back to the population reference);
    ``drop(track)`` forgets one track, ``reset()`` all tracks.
    """

    def __init__(self, window: int = 300, min_frames: int = 10):
        if window < 1 or min_frames < 1 or min_frames > window:
            raise ValueError(f"need 1 <= min_frames <= window, got min_frames={min_frames}, window={window}")
        self.window, self.min_frames = window, min_frames
        self._q = np.array([BASELINE_PERCENTILE[n] for n in AU_NAMES])
        self._hist: dict[int, deque] = {}

    def update(self, track: int, raw: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=np.float64)
        hist = self._hist.setdefault(track, deque(maxlen=self.window))
        if not np.isnan(raw).all():
            hist.append(raw)
        if len(hist) < self.min_frames:
            return np.full(len(raw), np.nan)
        stack = np.stack(hist)
        return np.array([np.nanpercentile(stack[:, j], q) for j, q in enumerate(self._q)])

    def drop(self, track: int) -> None:
        self._hist.pop(track, None)

    def reset(self) -> None:
        self._hist.clear()
