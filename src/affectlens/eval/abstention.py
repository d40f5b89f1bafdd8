"""Fit a model's abstention and compound thresholds on the validation split and store them.

Run it again whenever a model's weights or temperature change::

    affectlens calibrate --model ferplus-lite0 --write      # user overrides, see affectlens.overrides

Every threshold comes from the validation split (``PublicTest``) of the model's own data set
(FER+ majority labels for 8-label models, FER2013 for 7-label ones), with these rules:

``margin`` (ambiguous)
    faces are sorted by top-two margin; the threshold is the largest margin below which the
    validation faces are *more often wrong than right* (cumulative accuracy of the least
    separated faces <= 50 %, over at least 50 faces).
``min_face_px`` (small face)
    validation faces are shrunk to ``s`` pixels and scaled back up (as a small detected face
    is); ``s*`` is the smallest size whose accuracy stays within 5 points of the full-size
    accuracy. FER crops are wider than the detector's box, so ``min_face_px = s* * r`` with
    ``r`` the median ratio (detector box side / image side) measured on validation faces.
``max_yaw_deg`` (turned)
    the 95th percentile of ``|yaw|`` (5-landmark estimate) over validation faces the detector
    finds: a face more turned than 95 % of the faces the model was validated on.
``eyes_energy``, ``mouth_energy`` (occluded)
    the 95th percentile of the eyes-only and mouth-only energy over validation faces: 5 % of
    the (unoccluded) validation faces exceed each.
``eyes_texture``, ``mouth_texture`` (occluded)
    the 1st percentile of each region's median local contrast over validation faces: 1 % of
    the validation faces are flatter.
``min_max_logit`` (unknown class)
    the 5th percentile of the largest logit over validation faces with a known label (the usual
    "95 % of known faces pass" open-set rule).
``compound_margin``
    the FER+ crowd calls a face compound when its second emotion got at least 30 % of the
    emotion votes (the labels outside the model's are dropped); the threshold is the margin
    quantile at which the model calls as many validation faces compound as the crowd does.
"""

from __future__ import annotations

import logging

import numpy as np

from affectlens.labels import CANONICAL

log = logging.getLogger("affectlens")

AMBIGUOUS_MAX_ACCURACY = 0.5
AMBIGUOUS_MIN_COUNT = 50
SMALL_FACE_MAX_DROP = 0.05
SMALL_FACE_SIZES = (8, 10, 12, 14, 16, 18, 20, 24, 28, 32, 40)
YAW_QUANTILE = 0.95
OCCLUSION_QUANTILE = 0.95
TEXTURE_QUANTILE = 0.01
UNKNOWN_QUANTILE = 0.05
COMPOUND_VOTE_SHARE = 0.3
YAW_FACES = 300  # detecting faces in 48 px crops is slow; the first N validation faces suffice

RULES = {
    "margin": f"largest top-two margin below which val faces are right <= {AMBIGUOUS_MAX_ACCURACY:.0%} of the time",
    "min_face_px": f"smallest face size keeping val accuracy within {SMALL_FACE_MAX_DROP * 100:.0f} points, in detector-box pixels",
    "max_yaw_deg": f"{YAW_QUANTILE:.0%} quantile of |yaw| on val faces",
    "eyes_energy": f"{OCCLUSION_QUANTILE:.0%} quantile of eyes-only energy on val faces",
    "mouth_energy": f"{OCCLUSION_QUANTILE:.0%} quantile of mouth-only energy on val faces",
    "eyes_texture": f"{TEXTURE_QUANTILE:.0%} quantile of the eye region's median local contrast on val faces",
    "mouth_texture": f"{TEXTURE_QUANTILE:.0%} quantile of the mouth region's median local contrast on val faces",
    "min_max_logit": f"{UNKNOWN_QUANTILE:.0%} quantile of the max logit on known-class val faces",
    "compound_margin": f"margin quantile giving as many compounds as the FER+ crowd on val (second emotion >= {COMPOUND_VOTE_SHARE:.0%} of votes)",
}


# -- rules (pure) ------------------------------------------------------------------------------
def fit_margin_threshold(
    margin, correct, max_accuracy: float = AMBIGUOUS_MAX_ACCURACY, min_count: int = AMBIGUOUS_MIN_COUNT
) -> float:
    """Largest margin ``t`` such that faces with margin < t are right at most ``max_accuracy`` of the time.

    Considers the ``k >= min_count`` least separated faces; returns 0 (never ambiguous) when
    even the ``min_count`` least separated are right more often than ``max_accuracy``.
    """
    margin = np.asarray(margin, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    order = np.argsort(margin, kind="stable")
    m, c = margin[order], correct[order]
    cum = np.cumsum(c) / np.arange(1, len(c) + 1)
    ok = np.flatnonzero((cum <= max_accuracy) & (np.arange(1, len(c) + 1) >= min_count))
    if len(ok) == 0:
        return 0.0
    k = int(ok[-1])  # faces 0..k are flagged
    return float((m[k] + m[k + 1]) / 2) if k + 1 < len(m) else float(m[k] + 1e-9)


def fit_min_size(sizes, accuracies, full_accuracy: float, max_drop: float = SMALL_FACE_MAX_DROP) -> float:
    """Smallest size whose accuracy is at least ``full_accuracy - max_drop`` (sizes ascending)."""
    for s, a in zip(sizes, accuracies):
        if a >= full_accuracy - max_drop:
            return float(s)
    return float(sizes[-1])


# -- data ----------------------------------------------------------------------------------
def _own_dataset(labels) -> str:
    return "ferplus" if set(labels) == set(CANONICAL) else "fer2013"


def _shrink(images: np.ndarray, side: int) -> np.ndarray:
    from PIL import Image

    n = images.shape[1]
    return np.stack(
        [np.asarray(Image.fromarray(g).resize((side, side), Image.BOX).resize((n, n), Image.BILINEAR)) for g in images]
    )


def _logits(model, images: np.ndarray, batch: int = 256) -> np.ndarray:
    return np.concatenate(
        [model.forward(model.preprocess(images[i : i + batch])) for i in range(0, len(images), batch)]
    )


def _yaw_and_box_ratio(images: np.ndarray) -> tuple[np.ndarray, float]:
    from affectlens.detect import create_detector
    from affectlens.models.uncertainty import yaw_from_landmarks

    det = create_detector("yunet", score_threshold=0.5)
    yaws, ratios = [], []
    for g in images:
        faces = det.detect(np.repeat(g[:, :, None], 3, axis=2))
        if faces:
            best = max(faces, key=lambda f: f.score)
            yaws.append(yaw_from_landmarks(best.landmarks))
            ratios.append(best.size / g.shape[0])
    return np.abs(np.asarray(yaws)), float(np.median(ratios)) if ratios else 1.0


def fit_thresholds(model, root=None, dataset: str | None = None, limit: int | None = None) -> dict:
    """All thresholds for ``model`` (an ExpressionModel) from its data set's validation split.

    ``limit`` uses only the first N validation faces (quick checks; the stored thresholds use all).

    Returns the ``thresholds`` dict for ``models.json``: the values, ``rules`` and what was
    measured on the way (``fitted_on``, ``val_*``).
    """
    from affectlens.eval.datasets import load_fer2013, load_ferplus
    from affectlens.eval.datasets.fer2013 import VALIDATION_RULE
    from affectlens.models.uncertainty import energy, max_logit, region_energies, top2_margin

    labels = model.cfg.labels
    dataset = dataset or _own_dataset(labels)
    fs = load_ferplus(root, "val", rule=VALIDATION_RULE) if dataset == "ferplus" else load_fer2013(root, "val")
    images = np.asarray(fs.images)
    true = np.array([labels.index(fs.label_names[i]) if fs.label_names[i] in labels else -1 for i in fs.labels])
    known = true >= 0
    images, true = images[known][:limit], true[known][:limit]
    log.info("fitting thresholds for %s on %s val (%d faces)", model.cfg.name, dataset, len(true))
    logits = _logits(model, images)
    probs = model.postprocess(logits, images)
    correct = probs.argmax(axis=1) == true
    margin = top2_margin(probs)
    out: dict = {"margin": round(fit_margin_threshold(margin, correct), 4)}

    accs = [
        float((model.postprocess(_logits(model, _shrink(images, s))).argmax(1) == true).mean())
        for s in SMALL_FACE_SIZES
    ]
    s_star = fit_min_size(SMALL_FACE_SIZES, accs, float(correct.mean()))
    yaws, ratio = _yaw_and_box_ratio(images[:YAW_FACES])
    out["min_face_px"] = round(s_star * ratio, 1)
    out["max_yaw_deg"] = round(float(np.quantile(yaws, YAW_QUANTILE)), 1) if len(yaws) else None

    eyes_e, mouth_e = region_energies(model, images)
    out["eyes_energy"] = round(float(np.quantile(eyes_e, OCCLUSION_QUANTILE)), 4)
    out["mouth_energy"] = round(float(np.quantile(mouth_e, OCCLUSION_QUANTILE)), 4)
    out.update(fit_texture(model, images))
    out["min_max_logit"] = round(float(np.quantile(max_logit(logits), UNKNOWN_QUANTILE)), 4)

    fer_logits = logits if dataset == "ferplus" and limit is None else None
    out["compound_margin"], compound_info = fit_compound(model, root, fer_logits, limit)

    out["rules"] = RULES
    out["fitted_on"] = (
        f"{dataset} val (PublicTest), {len(true)} faces; yaw and box ratio on the first {min(YAW_FACES, len(true))}"
    )
    out["val_measured"] = {
        "accuracy": round(float(correct.mean()), 4),
        "accuracy_by_face_side": {str(s): round(a, 4) for s, a in zip(SMALL_FACE_SIZES, accs)},
        "face_side_kept": s_star,
        "box_to_image_ratio": round(ratio, 3),
        "yaw_faces_detected": int(len(yaws)),
        "ambiguous_rate": round(float((margin < out["margin"]).mean()), 4),
        **compound_info,
        "mean_energy": round(float(energy(logits).mean()), 4),
    }
    return out


def fit_texture(model, images: np.ndarray) -> dict:
    """``eyes_texture`` and ``mouth_texture``: the TEXTURE_QUANTILE of each region's contrast on ``images``."""
    from affectlens.models.uncertainty import region_texture

    eyes, mouth = region_texture(images, model.cfg.template, model.cfg.input_size)
    return {
        "eyes_texture": round(float(np.quantile(eyes, TEXTURE_QUANTILE)), 3),
        "mouth_texture": round(float(np.quantile(mouth, TEXTURE_QUANTILE)), 3),
    }


def fit_compound(
    model, root=None, ferplus_logits: np.ndarray | None = None, limit: int | None = None
) -> tuple[float, dict]:
    """(compound_margin, what was measured): the crowd-compound rate matched on FER+ val.

    ``ferplus_logits`` (the model's logits of the FER+ val faces, in loader order) saves a pass.
    """
    from affectlens.eval.datasets import load_ferplus
    from affectlens.eval.datasets.fer2013 import VALIDATION_RULE, read_ferplus_votes
    from affectlens.models.uncertainty import top2_margin

    labels = model.cfg.labels
    fs = load_ferplus(root, "val", rule=VALIDATION_RULE)
    votes, _, _ = read_ferplus_votes(root)
    rows = np.array([int(r[3:]) for r in fs.ids])[:limit]
    emo = votes[rows][:, [CANONICAL.index(lab) for lab in labels if lab in CANONICAL]].astype(np.float64)
    share = np.sort(emo / np.clip(emo.sum(1, keepdims=True), 1, None), axis=1)
    crowd = share[:, -2] >= COMPOUND_VOTE_SHARE
    images = np.asarray(fs.images)[:limit]
    logits = ferplus_logits if ferplus_logits is not None else _logits(model, images)
    margin = top2_margin(model.postprocess(logits, images))
    t = float(np.quantile(margin, crowd.mean()))
    pred = margin < t
    f1 = 2 * float((pred & crowd).sum()) / max(1.0, float(pred.sum() + crowd.sum()))
    return round(t, 4), {
        "crowd_compound_rate": round(float(crowd.mean()), 4),
        "model_compound_rate": round(float(pred.mean()), 4),
        "compound_f1": round(f1, 4),
    }
