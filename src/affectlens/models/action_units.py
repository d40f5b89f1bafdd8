"""FACS action-unit intensities from face-mesh geometry, and a rationale built from them.

What this is: a geometric estimate, not a FACS coder. Each action unit is one measured distance
or ratio between face-mesh points (:mod:`affectlens.models.landmarks`), taken in the face's
own frontal frame (the 3D mesh rotated by the inverse of its head pose, so turning the head does
not change it) and divided by the inter-ocular distance (the 3D distance between the two outer
eye corners, ``IOD``), so face size does not change it either. Appearance-only action units
(AU7 lid tightener, AU10, AU14, AU23 …) are not estimated.

The measures were chosen by their separation of FER+ *train* faces (never test faces); e.g.
the brows drawing together (AU4's second component in FACS) is left out because on those faces
it did not separate anger from happiness. Coordinates below: ``y`` grows downward in the frontal frame, ``x`` toward the image's right;
``y(p)`` is the mean over both sides of the named point pair; all distances are divided by IOD.

| AU | name | raw measure (larger = more of the AU) |
|---|---|---|
| AU1 | inner brow raiser | ``y(inner eye corner) - y(inner brow)`` |
| AU2 | outer brow raiser | ``y(outer eye corner) - y(outer brow)`` |
| AU4 | brow lowerer | ``-(y(upper lid) - y(mid brow))``: the brow comes down toward the eye |
| AU5 | upper lid raiser | eye aperture: ``(y(lower lid) - y(upper lid)) / eye width`` |
| AU6 | cheek raiser | ``-(y(cheek) - y(eye corners))``: the cheek rises toward the eye |
| AU9 | nose wrinkler | ``-(y(nose wing) - y(inner eye corner))``: the nose wings rise |
| AU12 | lip corner puller | ``y(upper lip centre, inner) - y(mouth corners) + width(mouth) / 2`` |
| AU15 | lip corner depressor | ``y(mouth corners) - y(upper lip centre, inner)`` |
| AU17 | chin raiser | ``-(y(chin) - y(lower lip centre, outer))`` |
| AU20 | lip stretcher | ``width(mouth)`` (mouth corner to corner; also grows in smiles) |
| AU25 | lips part | ``y(lower lip, inner) - y(upper lip, inner)`` |
| AU26 | jaw drop | ``y(chin) - y(upper lip centre, outer)`` |
| AU43 | eyes closed | ``-aperture`` (one frame cannot tell a blink, AU45, from closure) |

Intensity: ``clip((raw - neutral) / (high - neutral), 0, 1)`` where ``neutral`` is the median raw
measure of FER+ *train* faces labelled neutral and ``high`` its 95th percentile over all FER+
train faces (stored in :data:`REFERENCE`, reproduced by
``python benchmarks/au_validity.py --fit``). 0 = at or below a typical neutral face, 1 = as
strong as the strongest 5 % of the training faces. In video, :class:`NeutralBaseline`
replaces the population ``neutral`` by the person's own (a low percentile of their recent raw
measures).
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from affectlens.models.landmarks import MESH_POINTS, face_axes
from affectlens.types import ActionUnits

#: The estimated action units, in FACS order.
AU_NAMES = ("AU1", "AU2", "AU4", "AU5", "AU6", "AU9", "AU12", "AU15", "AU17", "AU20", "AU25", "AU26", "AU43")
#: An action unit counts as active in a rationale from this intensity on.
ACTIVE = 0.2

# Mesh point pairs (subject's right, subject's left) and single points (MediaPipe topology).
_P = {
    "eye_outer": (33, 263), "eye_inner": (133, 362), "lid_upper": (159, 386), "lid_lower": (145, 374),
    "brow_inner": (107, 336), "brow_mid": (105, 334), "brow_outer": (70, 300), "cheek": (118, 347),
    "nose_wing": (129, 358), "mouth_corner": (61, 291),
}
_UPPER_LIP_IN, _LOWER_LIP_IN, _UPPER_LIP_OUT, _LOWER_LIP_OUT, _CHIN = 13, 14, 0, 17, 152

#: (neutral, high) raw values per action unit; see the module docstring for how they are fitted
#: (``python benchmarks/au_validity.py --fit``: 2,034 FER+ train faces with a mesh, at most 300
#: per class).
REFERENCE: dict[str, tuple[float, float]] = {
    "AU1": (0.2684, 0.3175),
    "AU2": (0.1644, 0.2016),
    "AU4": (-0.2133, -0.1734),
    "AU5": (0.3089, 0.3590),
    "AU6": (-0.1936, -0.1582),
    "AU9": (-0.3630, -0.3070),
    "AU12": (0.2330, 0.3164),
    "AU15": (0.0273, 0.0762),
    "AU17": (-0.3307, -0.2425),
    "AU20": (0.5240, 0.6817),
    "AU25": (0.0220, 0.1889),
    "AU26": (0.5313, 0.6801),
    "AU43": (-0.3089, -0.2315),
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


def raw_measures(points: np.ndarray) -> np.ndarray:
    """The raw geometric measure of every action unit in :data:`AU_NAMES` (NaN without a mesh)."""
    if len(points) < MESH_POINTS:
        return np.full(len(AU_NAMES), np.nan)
    q = frontal(points)

    def y(name):
        a, b = _P[name]
        return (q[a, 1] + q[b, 1]) / 2.0

    def gap(name):
        a, b = _P[name]
        return abs(q[b, 0] - q[a, 0])

    eye_line = (y("eye_outer") + y("eye_inner")) / 2.0
    width_r = np.linalg.norm(q[133, :2] - q[33, :2])
    width_l = np.linalg.norm(q[263, :2] - q[362, :2])
    aperture = ((q[145, 1] - q[159, 1]) / width_r + (q[374, 1] - q[386, 1]) / width_l) / 2.0
    mouth_w = gap("mouth_corner")
    corner_up = q[_UPPER_LIP_IN, 1] - y("mouth_corner")
    values = {
        "AU1": y("eye_inner") - y("brow_inner"),
        "AU2": y("eye_outer") - y("brow_outer"),
        "AU4": -(y("lid_upper") - y("brow_mid")),
        "AU5": aperture,
        "AU6": -(y("cheek") - eye_line),
        "AU9": -(y("nose_wing") - y("eye_inner")),
        "AU12": corner_up + mouth_w / 2.0,
        "AU15": -corner_up,
        "AU17": -(q[_CHIN, 1] - q[_LOWER_LIP_OUT, 1]),
        "AU20": mouth_w,
        "AU25": q[_LOWER_LIP_IN, 1] - q[_UPPER_LIP_IN, 1],
        "AU26": q[_CHIN, 1] - q[_UPPER_LIP_OUT, 1],
        "AU43": -aperture,
    }
    return np.array([values[n] for n in AU_NAMES], dtype=np.float64)


def intensities(raw: np.ndarray, neutral: np.ndarray | None = None) -> np.ndarray:
    """Raw measures → intensities in [0, 1] (NaN stays NaN).

    ``neutral`` replaces the population neutral reference (e.g. a person's own baseline); the
    scale ``high - neutral`` is always the population one.
    """
    lo = np.array([REFERENCE[n][0] for n in AU_NAMES])
    hi = np.array([REFERENCE[n][1] for n in AU_NAMES])
    base = lo if neutral is None else np.where(np.isnan(neutral), lo, neutral)
    with np.errstate(invalid="ignore"):
        return np.clip((np.asarray(raw, dtype=np.float64) - base) / (hi - lo), 0.0, 1.0)


def estimate(points: np.ndarray, neutral: np.ndarray | None = None) -> ActionUnits:
    """Action units of one face mesh (all NaN when ``points`` is empty)."""
    raw = raw_measures(points)
    return ActionUnits(names=AU_NAMES, values=tuple(float(v) for v in intensities(raw, neutral)),
                       raw=tuple(float(v) for v in raw))


def rationale(aus: ActionUnits, expression: str, threshold: float = ACTIVE) -> str:
    """One line built only from measured values: the expression's prototype AUs that are active.

    ``"AU6 0.71 + AU12 0.90 -> happiness"``; when none is active, or none could be measured,
    it says so (``"no prototype AU of anger (AU4, AU5, AU17) at or above 0.20 -> anger
    (appearance only)"``). Values are printed with two decimals.
    """
    proto = PROTOTYPES.get(expression, ())
    values = aus.as_dict()
    if not values or all(math.isnan(v) for v in values.values()):
        return f"AUs not measured -> {expression} (appearance only)"
    if not proto:
        active = [n for n in AU_NAMES if values.get(n, math.nan) >= threshold]
        if not active:
            return f"no AU at or above {threshold:.2f} -> {expression}"
        return f"{expression} despite " + " + ".join(f"{n} {values[n]:.2f}" for n in active)
    active = [n for n in proto if values.get(n, math.nan) >= threshold]
    if not active:
        return (f"no prototype AU of {expression} ({', '.join(proto)}) at or above {threshold:.2f} "
                f"-> {expression} (appearance only)")
    return " + ".join(f"{n} {values[n]:.2f}" for n in active) + f" -> {expression}"


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
