"""Evaluate a registered expression model on a labelled face set, honestly.

When the data set's labels differ from the model's, only the classes present in both are
scored: images of other classes are left out, and the model's probabilities are restricted to
the shared classes and renormalised ("present-only" metrics). The report names what was left out.

Calibration and abstention: ``ece`` uses the model's temperature, ``ece_uncalibrated`` the same
logits at temperature 1; ``risk_coverage`` gives the accuracy over the most confident 50/80/100 %
of faces; ``abstention`` the coverage and accuracy of the faces the ``uncertain`` rule (thresholds
fitted on the validation split, see :mod:`affectlens.eval.abstention`) answers, and how often
each reason fired.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field

import numpy as np

from affectlens.eval import metrics
from affectlens.eval.datasets.base import FaceSet
from affectlens.models.uncertainty import REASONS


@dataclass(frozen=True)
class EvalReport:
    dataset: str
    split: str
    model: str
    crop_mode: str
    n: int
    accuracy: float
    macro_f1: float
    balanced_accuracy: float
    ece: float
    labels: list[str]
    per_class: dict
    confusion: list[list[int]]
    left_out_classes: list[str] = field(default_factory=list)
    left_out_images: int = 0
    dedup: bool = False
    removed_duplicates: int = 0
    excluded: int = 0
    no_face_detected: int = 0
    ms_per_face: float = float("nan")
    notes: list[str] = field(default_factory=list)
    temperature: float = 1.0
    ece_uncalibrated: float = float("nan")
    risk_coverage: list[dict] = field(default_factory=list)
    abstention: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class FaceSetPredictions:
    """What the model made of every image of a face set, in order."""

    logits: np.ndarray  # (N, K) raw
    probs: np.ndarray  # (N, K) calibrated
    crops: np.ndarray  # the model's input crops
    faces: list  # the Face each crop came from (the whole image when none was detected)
    no_face: int
    ms_per_face: float


def predict_faceset_full(analyzer, fs: FaceSet, batch: int = 256, progress: bool | None = None) -> FaceSetPredictions:
    """Logits, probabilities, crops and faces for every image of ``fs``."""
    import time

    from tqdm.auto import tqdm

    from affectlens.align import crop_whole_image
    from affectlens.types import Face

    cfg = analyzer.model.cfg
    show = sys.stderr.isatty() if progress is None else progress
    out, all_crops, all_faces, no_face, spent = [], [], [], 0, 0.0
    for start in tqdm(range(0, len(fs), batch), desc="eval", disable=not show, leave=False):
        crops = []
        for i in range(start, min(start + batch, len(fs))):
            img = np.asarray(fs.images[i])
            rgb = img if img.ndim == 3 else np.repeat(img[:, :, None], 3, axis=2)
            whole = Face(box=(0.0, 0.0, float(rgb.shape[1]), float(rgb.shape[0])), score=1.0, landmarks=())
            if analyzer.detector is None:
                crops.append(crop_whole_image(rgb, cfg.input_size, cfg.colour))
                all_faces.append(whole)
                continue
            faces, _ = analyzer.detect(rgb)
            if faces:
                crops.append(analyzer.align(rgb, faces[:1])[0])
                all_faces.append(faces[0])
            else:  # scored anyway, on the whole image, and counted
                no_face += 1
                crops.append(crop_whole_image(rgb, cfg.input_size, cfg.colour))
                all_faces.append(whole)
        crops = np.stack(crops)
        t0 = time.perf_counter()
        out.append(analyzer.logits(crops))
        spent += time.perf_counter() - t0
        all_crops.append(crops)
    logits = np.concatenate(out) if out else np.zeros((0, len(cfg.labels)))
    crops = np.concatenate(all_crops) if all_crops else np.zeros((0, cfg.input_size, cfg.input_size), np.uint8)
    return FaceSetPredictions(
        logits, analyzer.model.postprocess(logits, crops), crops, all_faces, no_face, 1000.0 * spent / max(1, len(fs))
    )


def score(
    fs: FaceSet,
    probs: np.ndarray,
    model_labels: tuple[str, ...],
    model_name: str,
    crop_mode: str,
    dedup: bool = False,
    no_face: int = 0,
    ms_per_face: float = float("nan"),
    probs_uncalibrated: np.ndarray | None = None,
    temperature: float = 1.0,
    reasons: list[str] | None = None,
) -> EvalReport:
    """Metrics over the classes shared by the data set and the model.

    ``probs_uncalibrated`` (temperature 1) adds ``ece_uncalibrated``; ``reasons`` (one
    ``uncertain_reason`` string per image, empty = answered) adds ``abstention``.
    """
    shared = [lab for lab in fs.label_names if lab in model_labels]
    if not shared:
        raise ValueError(f"{fs.name}: no label in common with model {model_name} ({', '.join(model_labels)})")
    left_out = [lab for lab in fs.label_names if lab not in model_labels]
    ignored_model = [lab for lab in model_labels if lab not in fs.label_names]
    true_names = np.asarray(fs.label_names)[fs.labels]
    keep = np.isin(true_names, shared)
    y = np.array([shared.index(t) for t in true_names[keep]], dtype=np.int64)
    cols = [model_labels.index(lab) for lab in shared]
    p = probs[keep][:, cols]
    p = p / np.clip(p.sum(axis=1, keepdims=True), 1e-12, None)
    cm = metrics.confusion_matrix(y, p.argmax(axis=1), len(shared))
    correct = p.argmax(axis=1) == y
    ece_raw = float("nan")
    if probs_uncalibrated is not None:
        q = probs_uncalibrated[keep][:, cols]
        ece_raw = metrics.expected_calibration_error(q / np.clip(q.sum(axis=1, keepdims=True), 1e-12, None), y)
    abstention = {}
    if reasons is not None:
        kept_reasons = [r for r, k in zip(reasons, keep) if k]
        answered = np.array([not r for r in kept_reasons], dtype=bool)
        cov, acc = metrics.selective_accuracy(correct, answered)
        counts = {name: sum(name in r.split(";") for r in kept_reasons) for name in REASONS}
        abstention = {
            "coverage": cov,
            "accuracy": acc,
            "n_answered": int(answered.sum()),
            "reason_rates": {k: v / max(1, len(kept_reasons)) for k, v in counts.items()},
        }
    pc = metrics.per_class(cm)
    notes = []
    if fs.note:
        notes.append(fs.note)
    if left_out:
        notes.append(f"data set classes the model lacks, left out: {', '.join(left_out)} ({int((~keep).sum())} images)")
    if ignored_model:
        notes.append(
            f"model classes the data set lacks, probabilities renormalised without them: {', '.join(ignored_model)} (present-only metrics)"
        )
    if dedup:
        notes.append(
            f"--dedup: {fs.removed_duplicates} images with a pixel-identical twin in the training split removed"
        )
    if no_face:
        notes.append(f"no face detected in {no_face} images: scored on the whole image")
    return EvalReport(
        dataset=fs.name,
        split=fs.split,
        model=model_name,
        crop_mode=crop_mode,
        n=int(len(y)),
        accuracy=metrics.accuracy(cm),
        macro_f1=metrics.macro_f1(cm),
        balanced_accuracy=metrics.balanced_accuracy(cm),
        ece=metrics.expected_calibration_error(p, y),
        labels=shared,
        per_class={
            lab: {k: (float(v[i]) if k != "support" else int(v[i])) for k, v in pc.items()}
            for i, lab in enumerate(shared)
        },
        confusion=cm.tolist(),
        left_out_classes=left_out + ignored_model,
        left_out_images=int((~keep).sum()),
        dedup=dedup,
        removed_duplicates=fs.removed_duplicates,
        excluded=fs.excluded,
        no_face_detected=no_face,
        ms_per_face=ms_per_face,
        notes=notes,
        temperature=float(temperature),
        ece_uncalibrated=ece_raw,
        risk_coverage=metrics.risk_coverage(p.max(axis=1), correct),
        abstention=abstention,
    )


def evaluate(analyzer, fs: FaceSet, dedup: bool = False, progress: bool | None = None) -> EvalReport:
    pred = predict_faceset_full(analyzer, fs, progress=progress)
    cfg = analyzer.model.cfg
    affects = analyzer.assess(pred.faces, pred.crops, pred.logits, pred.probs)
    from affectlens.models.expression import softmax

    return score(
        fs,
        pred.probs,
        cfg.labels,
        cfg.name,
        analyzer.options.detection.crop_mode,
        dedup,
        pred.no_face,
        pred.ms_per_face,
        probs_uncalibrated=softmax(pred.logits, 1.0),
        temperature=cfg.temperature,
        reasons=[a.uncertain_reason for a in affects],
    )


def format_report(r: EvalReport) -> str:
    lines = [
        f"{r.model} on {r.dataset} [{r.split}] ({r.crop_mode} crops): n = {r.n}",
        f"accuracy           {r.accuracy:.4f}",
        f"macro-F1           {r.macro_f1:.4f}" + ("  (present-only)" if r.left_out_classes else ""),
        f"balanced accuracy  {r.balanced_accuracy:.4f}",
        f"ECE (15 bins)      {r.ece:.4f}"
        + (
            f"  (temperature {r.temperature:.3f}; {r.ece_uncalibrated:.4f} at temperature 1)"
            if r.ece_uncalibrated == r.ece_uncalibrated
            else ""
        ),
        "",
        f"{'class':<11}{'precision':>10}{'recall':>8}{'F1':>8}{'support':>9}",
    ]
    for lab, d in r.per_class.items():
        lines.append(f"{lab:<11}{d['precision']:>10.3f}{d['recall']:>8.3f}{d['f1']:>8.3f}{d['support']:>9d}")
    lines += ["", "confusion (rows true, columns predicted):", " " * 11 + "".join(f"{lab[:7]:>8}" for lab in r.labels)]
    for lab, row in zip(r.labels, r.confusion):
        lines.append(f"{lab:<11}" + "".join(f"{v:>8d}" for v in row))
    if r.risk_coverage:
        lines += [
            "",
            "risk-coverage (answer only the most confident faces):",
            f"{'coverage':>10}{'accuracy':>10}{'min conf':>10}",
        ]
        lines += [f"{e['coverage']:>9.0%} {e['accuracy']:>10.4f}{e['min_confidence']:>10.3f}" for e in r.risk_coverage]
    if r.abstention:
        a = r.abstention
        rates = ", ".join(f"{k} {v:.1%}" for k, v in a["reason_rates"].items() if v)
        lines += [
            f"uncertain rule (thresholds fitted on val): answers {a['coverage']:.1%} with accuracy {a['accuracy']:.4f}"
            + (f"; flagged: {rates}" if rates else "")
        ]
    if r.notes:
        lines += [""] + [f"note: {n}" for n in r.notes]
    return "\n".join(lines)
