"""Do the geometric action units read 0 on neutral faces and move the way FACS says?

Every face here goes through the path a photograph takes (:class:`~affectlens.pipeline.image.Analyzer`:
YuNet detection on the image as it is, then the face mesh around the detected box); FER+ faces
are used at their native 48x48 pixels. Three modes (results JSON written only with ``--write``):

    AFFECTLENS_DATA=../shared/datasets python benchmarks/au_validity.py --fit          # ~5 min idle
    AFFECTLENS_DATA=../shared/datasets python benchmarks/au_validity.py [--write]      # ~20 min
    python benchmarks/au_validity.py --real-media [--write]                            # ~20 s

``--fit`` measures FER+ *train* faces (at most 300 per class) and prints the constants committed
in :mod:`affectlens.models.action_units` (``AU6_PARTS``, ``AU6_NARROWING_SHARE``, ``REFERENCE``,
``RATIONALE_WEIGHT``) and ``PITCH_ZERO`` of :mod:`affectlens.models.landmarks` (the pitch still
comes from the 192-px upscaled path it was fitted on). The default mode measures FER+ *test*
faces: mean AU per class on three scales (:data:`SCALES`: before issue 14, :data:`BEFORE`; the
first refit, :data:`PREVIOUS`, on the measures it used, :func:`legacy_raw`; and the committed
one), and Cohen's d checks (:data:`CHECKS`) → ``benchmarks/results/au_validity.json``.
``--real-media`` measures the photos and the smile clip in ``../shared/media`` on the same three
scales → ``benchmarks/results/au_real_media.json``. ``--meshes DIR`` keeps the FER+ faces' meshes
(``DIR/ferplus_<split>_<per_class>.npz``) so later runs rescore them without new mesh fits.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlens.eval.datasets import load_ferplus  # noqa: E402
from affectlens.eval.datasets.fer2013 import VALIDATION_RULE  # noqa: E402
from affectlens.eval.metrics import cohens_d  # noqa: E402
from affectlens.models.action_units import (  # noqa: E402
    AU_NAMES,
    NeutralBaseline,
    cheek_raiser,
    cues,
    fit_cheek_raiser,
    fit_reference,
    fit_weights,
    frontal,
    intensities,
    raw_measures,
)
from affectlens.models.landmarks import MESH_POINTS  # noqa: E402

SHARED = Path(os.environ.get("AFFECTLENS_SHARED", ROOT.parent / "shared"))
RESULTS = ROOT / "benchmarks" / "results"
#: the pitch reference is still measured on faces upscaled to this size (see --fit)
PITCH_SIZE = 192
#: (AU, higher class, lower class): what FACS/EMFACS predicts.
CHECKS = [
    ("AU1", "surprise", "neutral"),
    ("AU2", "surprise", "neutral"),
    ("AU6", "happiness", "neutral"),
    ("AU12", "happiness", "neutral"),
    ("AU4", "anger", "happiness"),
    ("AU25", "surprise", "neutral"),
    ("AU26", "surprise", "neutral"),
]
CLASSES = ("neutral", "happiness", "surprise", "anger", "sadness", "disgust", "fear", "contempt")
#: FER+ label rule of the fitted AU scale and of the committed results (plurality)
RULE = VALIDATION_RULE

#: The scale before issue 14 (commit f2c99da): (neutral, high) = median of FER+ train neutral
#: faces and 95th percentile of all FER+ train faces, measured on 48-px faces upscaled to 192 px
#: and meshed as one whole-image face. Kept only to print the "before" columns.
BEFORE: dict[str, tuple[float, float]] = {
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

#: The scale of the first refit (commit 1d408d3): zero at the 90th percentile of FER+ train
#: neutral faces at 48 px through the photo path; AU1, AU2 and AU6 still measured as in
#: :func:`legacy_raw`. Kept only to print the "previous" columns.
PREVIOUS: dict[str, tuple[float, float]] = {
    "AU1": (0.3082, 0.3567),
    "AU2": (0.1866, 0.2277),
    "AU4": (-0.1831, -0.1443),
    "AU5": (0.3556, 0.4026),
    "AU6": (-0.1790, -0.1428),
    "AU9": (-0.3326, -0.2721),
    "AU12": (0.2674, 0.3547),
    "AU15": (0.0466, 0.0954),
    "AU17": (-0.2777, -0.1914),
    "AU20": (0.5728, 0.7366),
    "AU25": (0.0496, 0.2159),
    "AU26": (0.5793, 0.7197),
    "AU43": (-0.2728, 0.0000),
}
#: The scales compared in the tables: "before" and "previous" apply to :func:`legacy_raw`.
SCALES = ("before", "previous", "after")
SCALE_NOTES = {
    "before": "scale before issue 14 (commit f2c99da): FER+ faces upscaled to 192 px, zero at the median neutral face",
    "previous": "first refit (commit 1d408d3): zero at the 90th percentile of neutral faces; AU1/AU2/AU6 over the eye distance",
    "after": "this scale: AU1/AU2 over the eye-to-nose height, AU6 = cheek rise + eye narrowing (models/action_units.py)",
}


def legacy_raw(points: np.ndarray) -> np.ndarray:
    """Raw measures as :data:`BEFORE` and :data:`PREVIOUS` defined them: AU1 and AU2 the brow
    heights and AU6 the cheek's rise toward the eye line, all over the inter-ocular distance."""
    raw = raw_measures(points)
    if np.isnan(raw).all():
        return raw
    q = frontal(points)

    def y(a, b):
        return (q[a, 1] + q[b, 1]) / 2.0

    eye_line = (y(33, 263) + y(133, 362)) / 2.0
    for name, value in (
        ("AU1", y(133, 362) - y(107, 336)),
        ("AU2", y(33, 263) - y(70, 300)),
        ("AU6", -(y(118, 347) - eye_line)),
    ):
        raw[AU_NAMES.index(name)] = value
    return raw


#: The smile clip's parts, checked by eye on its frames: a neutral face until 0.6 s, a broad
#: smile from 0.7 s to 2.3 s (it starts between 0.6 and 0.7 s and fades in the last frames).
SMILE_CLIP = "smile_pyfeat_single_face.mp4"
SMILE_NEUTRAL_MS = (0.0, 600.0)
SMILE_SMILING_MS = (700.0, 2300.0)
PORTRAITS = ("astronaut.png", "grace_hopper.jpg", "newton.png", "gauss.png")
SOLVAY = "solvay_conference_1927.jpg"


def on_scale(scale: dict, raw: np.ndarray, neutral: np.ndarray | None = None) -> np.ndarray:
    """Intensities of raw measures on an old (zero, zero + width) scale (``neutral``: a person's
    own zero), the way :func:`intensities` maps them today (AU26 capped by AU25 only on the
    scales that did so: not on :data:`BEFORE`)."""
    lo = np.array([scale[n][0] for n in AU_NAMES])
    hi = np.array([scale[n][1] for n in AU_NAMES])
    base = lo if neutral is None else np.where(np.isnan(neutral), lo, neutral)
    with np.errstate(invalid="ignore"):
        out = np.clip((np.asarray(raw, dtype=np.float64) - base) / (hi - lo), 0.0, 1.0)
    if scale is PREVIOUS:
        j25, j26 = AU_NAMES.index("AU25"), AU_NAMES.index("AU26")
        out[..., j26] = np.minimum(out[..., j26], out[..., j25])
    return out


def scaled(meshes_raw: dict, neutral: dict | None = None) -> dict[str, np.ndarray]:
    """Intensities per scale of :data:`SCALES` from ``{"legacy": raws, "now": raws}`` (and the
    matching own-baseline zeros)."""
    neutral = neutral or {}
    return {
        "before": on_scale(BEFORE, meshes_raw["legacy"], neutral.get("legacy")),
        "previous": on_scale(PREVIOUS, meshes_raw["legacy"], neutral.get("legacy")),
        "after": intensities(meshes_raw["now"], neutral.get("now")),
    }


def sample(fs, per_class: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for ci, name in enumerate(fs.label_names):
        idx = np.flatnonzero(fs.labels == ci)
        out[name] = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
    return out


def photo_path_mesh(an, gray: np.ndarray) -> np.ndarray:
    """Mesh points (468, 3) of the most confident face YuNet finds in ``gray`` (all NaN when none
    is found or the mesh does not fit), meshed exactly as :meth:`Analyzer.analyze` meshes photos."""
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    faces, _ = an.detect(rgb)
    if faces:
        points = an.mesh(rgb, [max(faces, key=lambda f: f.score)])[0]
        if len(points) == MESH_POINTS:
            return np.asarray(points, dtype=np.float64)
    return np.full((MESH_POINTS, 3), np.nan)


def measure_ferplus(args, split: str, with_pitch: bool = False):
    """(labels, meshes (N, 468, 3), pitches or None) of FER+ faces, at most ``per_class`` per class.

    With ``--meshes DIR`` the labels and meshes are read from ``DIR/ferplus_<split>_<per_class>.npz``
    when it exists (written by an earlier run with the same option), so rescoring needs no new
    mesh fits; the pitches (``--fit`` only) are then not measured.
    """
    cache = Path(args.meshes) / f"ferplus_{split}_{args.per_class}.npz" if args.meshes else None
    if cache is not None and cache.is_file():
        stored = np.load(cache)
        return stored["labels"], stored["mesh"], None
    from affectlens.models.landmarks import head_pose
    from affectlens.options import Options
    from affectlens.pipeline.image import Analyzer
    from affectlens.types import Face

    fs = load_ferplus(args.data_root, split, rule=RULE)
    an = Analyzer(Options().replace(mesh="on"), threads=1)
    whole = Face(box=(0.0, 0.0, float(PITCH_SIZE), float(PITCH_SIZE)), score=1.0, landmarks=())
    labels, meshes, pitches = [], [], []
    for name, idx in sample(fs, args.per_class).items():
        for i in idx:
            labels.append(name)
            meshes.append(photo_path_mesh(an, fs.images[i]))
            if with_pitch:
                g = np.asarray(Image.fromarray(fs.images[i]).resize((PITCH_SIZE, PITCH_SIZE), Image.BICUBIC))
                pts = an.face_mesh.run(np.repeat(g[:, :, None], 3, axis=2), whole).points
                pitches.append(head_pose(pts)[1] if len(pts) else np.nan)
    labels, meshes = np.array(labels), np.array(meshes)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(cache, labels=labels, mesh=meshes)
    return labels, meshes, (np.array(pitches) if with_pitch else None)


def raws(meshes: np.ndarray) -> dict[str, np.ndarray]:
    """{"legacy": :func:`legacy_raw`, "now": today's raw measures} of each mesh, (N, 13) each."""
    return {
        "legacy": np.array([legacy_raw(m) for m in meshes]),
        "now": np.array([raw_measures(m) for m in meshes]),
    }


def fit(args) -> None:
    """Print the committed constants from FER+ train faces."""
    from affectlens.models.landmarks import PITCH_ZERO

    all_labels, meshes, pitches = measure_ferplus(args, "train", with_pitch=True)
    ok = ~np.isnan(meshes[:, 0, 0])
    labels, meshes = all_labels[ok], meshes[ok]
    c = [cues(m) for m in meshes]
    rise, narrowing = np.array([x["cheek_rise"] for x in c]), np.array([x["eye_narrowing"] for x in c])
    parts, share, d6 = fit_cheek_raiser(rise, narrowing, labels)
    raw = np.array([[x[n] if n != "AU6" else np.nan for n in AU_NAMES] for x in c])
    raw[:, AU_NAMES.index("AU6")] = cheek_raiser(rise, narrowing, parts, share)
    ref = fit_reference(raw, labels)
    weights, d = fit_weights(raw, labels)
    print(
        f"# fitted on {len(raw)} FER+ train faces with a mesh ({args.per_class} per class at most, "
        f"{int((labels == 'neutral').sum())} neutral), native 48 px through the photo path"
    )
    print("AU6_PARTS: dict[str, tuple[float, float]] = {")
    for name, (median, sd) in parts.items():
        print(f'    "{name}": ({median:.4f}, {sd:.4f}),')
    print("}")
    print(f"AU6_NARROWING_SHARE = {share}  # Cohen's d happiness over neutral {d6:.2f}")
    print("REFERENCE: dict[str, tuple[float, float]] = {")
    for n in AU_NAMES:
        print(f'    "{n}": ({ref[n][0]:.4f}, {ref[n][1]:.4f}),')
    print("}")
    print("# Cohen's d of each AU's prototype expression over neutral (raw measures)")
    print("RATIONALE_WEIGHT: dict[str, float] = {")
    for n in AU_NAMES:
        print(f'    "{n}": {weights[n]:.2f},  # d = {d[n]:.2f}')
    print("}")
    if pitches is None:
        print("PITCH_ZERO: not measured (meshes read from --meshes)")
        return
    neutral_pitch = pitches[(all_labels == "neutral") & ~np.isnan(pitches)]
    print(
        f"PITCH_ZERO = {PITCH_ZERO - float(np.median(neutral_pitch)):.1f}  (makes the median pitch of the "
        f"{len(neutral_pitch)} neutral faces with a mesh, upscaled to {PITCH_SIZE} px, read 0)"
    )


def evaluate(args) -> None:
    """FER+ test faces: mean AU per class on each scale, and the FACS checks (after)."""
    labels, meshes, _ = measure_ferplus(args, "test")
    both = raws(meshes)
    values = scaled(both)
    after = values["after"]
    col = {n: j for j, n in enumerate(AU_NAMES)}
    counts = {
        c: {"faces": int((labels == c).sum()), "with_mesh": int(((labels == c) & ~np.isnan(both["now"][:, 0])).sum())}
        for c in CLASSES
    }
    checks = []
    for au, hi, lo in CHECKS:
        a, b = after[labels == hi, col[au]], after[labels == lo, col[au]]
        checks.append(
            {
                "au": au,
                "higher": hi,
                "lower": lo,
                "mean_higher": float(np.nanmean(a)),
                "mean_lower": float(np.nanmean(b)),
                "n_higher": int((~np.isnan(a)).sum()),
                "n_lower": int((~np.isnan(b)).sum()),
                "cohens_d": cohens_d(a, b),
                "holds": bool(np.nanmean(a) > np.nanmean(b)),
            }
        )
    means = {when: {c: _rounded(np.nanmean(v[labels == c], axis=0)) for c in CLASSES} for when, v in values.items()}
    print(f"FER+ test faces ({RULE} label), up to {args.per_class} per class, native 48 px, photo path")
    print(f"{'class':<10}{'':<9}{'faces':>6}{'mesh':>5}" + "".join(f"{n:>6}" for n in AU_NAMES))
    for c in CLASSES:
        for when in SCALES:
            print(
                f"{c:<10}{when:<9}{counts[c]['faces']:>6}{counts[c]['with_mesh']:>5}"
                + "".join(f"{means[when][c][n]:6.2f}" for n in AU_NAMES)
            )
    print()
    print(f"{'check (after)':<28}{'mean hi':>8}{'mean lo':>8}{'n hi':>6}{'n lo':>6}{'d':>7}  holds")
    for c in checks:
        print(
            f"{c['au'] + ' ' + c['higher'] + ' > ' + c['lower']:<28}{c['mean_higher']:8.3f}{c['mean_lower']:8.3f}"
            f"{c['n_higher']:6d}{c['n_lower']:6d}{c['cohens_d']:7.2f}  {c['holds']}"
        )
    result = {
        "dataset": f"ferplus test (FER2013 PrivateTest rows, {RULE} label)",
        "per_class": args.per_class,
        "path": "native 48 px, YuNet detection then face mesh (the photo path)",
        "scales": SCALE_NOTES,
        "counts": counts,
        "checks": checks,
        "mean_au": means,
    }
    _write(args, "au_validity.json", result)


def _rounded(values) -> dict[str, float]:
    return {n: round(float(v), 4) for n, v in zip(AU_NAMES, values)}


def _summary(values: np.ndarray) -> dict:
    """Median per AU and the share of faces/frames at 0.2 or more."""
    with np.errstate(invalid="ignore"):
        return {
            "n": int((~np.isnan(values[:, 0])).sum()),
            "median": _rounded(np.nanmedian(values, axis=0)),
            "share_ge_0.2": _rounded(np.nanmean(values >= 0.2, axis=0)),
        }


def own_baseline(raw: np.ndarray) -> np.ndarray:
    """The one-track :class:`NeutralBaseline` zero after each frame's raw measures."""
    baseline = NeutralBaseline()
    return np.array([baseline.update(0, r) for r in raw])


def measure_media(shared: Path) -> dict[str, dict]:
    """Raw measures (legacy and today's) of the real media groups (see the module docstring)."""
    import affectlens

    on = affectlens.Options().replace(mesh="on")
    photos, videos = shared / "media" / "photos", shared / "media" / "videos"
    group = affectlens.analyze(photos / SOLVAY, on)
    neutral = [f for f in group.faces if f.expression.top == "neutral"]
    out = {
        "solvay_neutral": {
            "raw": raws([f.mesh for f in neutral]),
            "note": f"{len(neutral)} of the {len(group.faces)} faces whose top label is neutral",
        }
    }
    frames = [
        fr
        for fr in affectlens.analyze_video_iter(videos / SMILE_CLIP, every=1, smooth="none", landmarks="on")
        if fr.faces
    ]
    both = raws([fr.faces[0].mesh for fr in frames])
    # what --au-baseline does: the track's own neutral, frame by frame
    own = {k: own_baseline(v) for k, v in both.items()}
    times = np.array([fr.time_ms for fr in frames])
    for part, (t0, t1) in (("smile_clip_neutral", SMILE_NEUTRAL_MS), ("smile_clip_smiling", SMILE_SMILING_MS)):
        keep = (times >= t0) & (times <= t1)
        out[part] = {
            "raw": {k: v[keep] for k, v in both.items()},
            "note": f"frames from {t0:.0f} to {t1:.0f} ms, population zero",
        }
        out[part + "_own_baseline"] = {
            "raw": {k: v[keep] for k, v in both.items()},
            "neutral": {k: v[keep] for k, v in own.items()},
            "note": f"frames from {t0:.0f} to {t1:.0f} ms, the person's own zero "
            "(--au-baseline; the population zero for the first 9 frames)",
        }
    for name in PORTRAITS:
        f = affectlens.analyze(photos / name, on).faces[0]
        out[name] = {"raw": raws([f.mesh]), "note": f"top label {f.expression.top}"}
    return out


def real_media(args) -> None:
    groups = measure_media(Path(args.shared))
    result = {"scales": SCALE_NOTES}
    print(f"{'group':<34}{'':<9}{'stat':<8}" + "".join(f"{n:>6}" for n in AU_NAMES))
    for name, g in groups.items():
        entry = {"note": g["note"]}
        for when, values in scaled(g["raw"], g.get("neutral")).items():
            s = _summary(values)
            entry[when] = s
            stats = ("median", "share_ge_0.2") if s["n"] > 1 else ("median",)
            for stat in stats:
                print(f"{name[:33]:<34}{when:<9}{stat[:7]:<8}" + "".join(f"{s[stat][n]:6.2f}" for n in AU_NAMES))
        result[name] = entry
    _write(args, "au_real_media.json", result)


def _write(args, filename: str, result: dict) -> None:
    if args.write:
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / filename).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {RESULTS / filename}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--shared", default=str(SHARED), help="the shared/ folder with media/ (default ../shared)")
    ap.add_argument("--per-class", type=int, default=300, help="FER+ faces per class at most (default 300)")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--fit", action="store_true", help="fit the constants on FER+ train faces and print them")
    mode.add_argument("--real-media", action="store_true", help="before/after table on the photos and the smile clip")
    ap.add_argument("--write", action="store_true", help="write the results JSON under benchmarks/results")
    ap.add_argument(
        "--meshes",
        default=None,
        help="folder caching the FER+ faces' meshes: read when there, written otherwise (rescoring in seconds)",
    )
    args = ap.parse_args()
    if args.fit:
        fit(args)
    elif args.real_media:
        real_media(args)
    else:
        evaluate(args)


if __name__ == "__main__":
    main()
