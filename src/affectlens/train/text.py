"""Train the text emotion model (TF-IDF + multinomial logistic regression; needs the [train] extra).

    python -m affectlens.train.text --data-root ../shared/datasets --out src/affectlens/weights/text-tfidf

Recipe (the defaults of :class:`TextTrainConfig`):

* data: the ``train`` splits of GoEmotions (Ekman groups), dair-ai emotion and MELD, labels
  mapped onto the canonical labels (:mod:`affectlens.eval.datasets.text`). A GoEmotions row
  with k groups becomes k training rows of weight 1/k each. MELD rows carry the previous
  ``MELD_CONTEXT`` utterances of their dialogue as context.
* features: three TF-IDF blocks (word 1-2-grams, char_wb 2-5-grams, context word 1-grams
  scaled by ``ctx_weight``), each L2-normalised, analyzers from :mod:`affectlens.models.text`.
* classifier: multinomial logistic regression, class-balanced sample weights, ``C`` chosen on
  the ``val`` splits (mean of GoEmotions macro-F1, dair macro-F1 and MELD weighted-F1).
* calibration: one temperature fitted on the pooled ``val`` splits (NLL).
* export: vocabularies, idf, coefficients (float16) and intercepts in one compressed npz, plus
  ``models.json`` (kind ``text``).
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from affectlens.eval.datasets.text import load_text_dataset
from affectlens.eval.metrics import confusion_matrix, macro_f1, weighted_f1
from affectlens.labels import CANONICAL
from affectlens.models.text import ANALYZERS, BLOCKS

log = logging.getLogger("affectlens.train.text")

#: The labels the text model scores: the canonical labels that occur in the training data.
TEXT_LABELS = tuple(label for label in CANONICAL if label != "contempt")


@dataclass(frozen=True)
class TextTrainConfig:
    name: str = "text-tfidf-lr"
    datasets: tuple[str, ...] = ("goemotions", "dair", "meld")
    max_features: dict = field(default_factory=lambda: {"word": 60000, "char": 120000, "ctx": 10000})
    min_df: dict = field(default_factory=lambda: {"word": 2, "char": 3, "ctx": 3})
    ctx_weight: float = 0.5
    c_grid: tuple[float, ...] = (1.0, 3.0, 8.0)
    max_iter: int = 300
    seed: int = 0
    limit: int = 0  # use only the first ``limit`` rows of each data set and split (0 = all; for smoke tests)


def _require_sklearn():
    try:
        import sklearn  # noqa: F401
    except ImportError:
        raise ImportError("training the text model needs the [train] extra: pip install 'affectlens[train]'") from None


def load_split(names, split: str, root=None, limit: int = 0) -> dict:
    """Texts, contexts, label indices into TEXT_LABELS and weights of several data sets."""
    texts, contexts, labels, weights, source, ids = [], [], [], [], [], []
    for name in names:
        ds = load_text_dataset(name, split, root)
        for i in range(min(len(ds), limit) if limit else len(ds)):
            groups = (
                [CANONICAL[j] for j in np.flatnonzero(ds.multi[i])]
                if ds.multi is not None and split == "train"
                else [CANONICAL[ds.labels[i]]]
            )
            for g in groups:
                texts.append(ds.texts[i])
                contexts.append(ds.contexts[i])
                labels.append(TEXT_LABELS.index(g))
                weights.append(1.0 / len(groups))
                source.append(name)
                ids.append(ds.ids[i])
    return {
        "texts": texts,
        "contexts": contexts,
        "y": np.asarray(labels),
        "w": np.asarray(weights),
        "source": np.asarray(source),
        "ids": ids,
    }


#: GoEmotions labels that its Ekman grouping files under ``surprise`` but that name a question
#: rather than astonishment (Demszky et al. 2020 group curiosity and confusion with surprise).
QUESTION_LABELS = frozenset({"curiosity", "confusion"})


def split_question_surprise(data: dict, share: float, root=None) -> dict:
    """Training rows with GoEmotions ``surprise`` that comes only from curiosity or confusion
    (no surprise or realization annotation) count ``share`` as surprise and ``1 - share`` as
    neutral (a copy of the row with the rest of its weight). ``share = 1`` is the Ekman grouping.

    Dialogue and everyday text (MELD, dair-ai) call a plain question neutral; the grouping makes
    a model read most questions as surprise.
    """
    if share >= 1.0:
        return data
    from affectlens.eval.datasets.text import goemotions_fine_labels

    fine = goemotions_fine_labels(root, "train")
    surprise, neutral = TEXT_LABELS.index("surprise"), TEXT_LABELS.index("neutral")
    y, w = data["y"], data["w"].astype(np.float64).copy()
    rows = [
        i
        for i in np.flatnonzero((data["source"] == "goemotions") & (y == surprise))
        if (f := fine.get(data["ids"][i])) and f & QUESTION_LABELS and not f & {"surprise", "realization"}
    ]
    idx = np.asarray(rows, dtype=int)
    rest = w[idx] * (1.0 - share)
    w[idx] *= share
    out = {k: (list(v) + [v[i] for i in idx]) for k, v in data.items() if isinstance(v, list)}
    out.update(
        y=np.concatenate([y, np.full(len(idx), neutral)]),
        w=np.concatenate([w, rest]),
        source=np.concatenate([data["source"], data["source"][idx]]),
    )
    return out


def build_vectorizers(cfg: TextTrainConfig) -> dict:
    from sklearn.feature_extraction.text import TfidfVectorizer

    return {
        b: TfidfVectorizer(
            analyzer=ANALYZERS[b],
            lowercase=False,
            sublinear_tf=True,
            min_df=cfg.min_df[b],
            max_features=cfg.max_features[b],
            dtype=np.float32,
        )
        for b in BLOCKS
    }


def featurize(vecs: dict, data: dict, ctx_weight: float, fit: bool = False):
    import scipy.sparse as sp

    blocks = []
    for b in BLOCKS:
        docs = data["contexts"] if b == "ctx" else data["texts"]
        if b == "ctx" and fit and not any(docs):  # no dialogue data: no context block
            vecs[b] = None
        if vecs[b] is None:
            continue
        x = vecs[b].fit_transform(docs) if fit else vecs[b].transform(docs)
        blocks.append(x * ctx_weight if b == "ctx" else x)
    return sp.hstack(blocks).tocsr()


def balanced_weights(y: np.ndarray, w: np.ndarray) -> np.ndarray:
    counts = np.bincount(y, weights=w, minlength=len(TEXT_LABELS))
    per_class = w.sum() / (len(TEXT_LABELS) * np.maximum(counts, 1e-9))
    return w * per_class[y]


def _scores(probs: np.ndarray, data: dict) -> dict:
    """Validation scores per data set (argmax over TEXT_LABELS; dair restricted to its labels)."""
    out = {}
    for name in np.unique(data["source"]):
        m = data["source"] == name
        p, y = probs[m], data["y"][m]
        if name == "dair":
            allowed = [TEXT_LABELS.index(c) for c in ("happiness", "surprise", "sadness", "anger", "fear")]
            mask = np.full(len(TEXT_LABELS), -np.inf)
            mask[allowed] = 0
            p = p + mask
        cm = confusion_matrix(y, p.argmax(1), len(TEXT_LABELS))
        out[name] = weighted_f1(cm) if name == "meld" else macro_f1(cm)
    return out


def fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises the NLL of ``softmax(logits / T)`` (grid + refinement)."""

    def nll(t):
        z = logits / t
        z = z - z.max(1, keepdims=True)
        return float(-(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(1))).mean())

    grid = np.exp(np.linspace(np.log(0.25), np.log(4), 61))
    best = grid[int(np.argmin([nll(t) for t in grid]))]
    fine = np.linspace(best * 0.95, best * 1.05, 21)
    return float(fine[int(np.argmin([nll(t) for t in fine]))])


def export_npz(path: Path, vecs: dict, clf, ctx_weight: float) -> None:
    arrays = {}
    for b in BLOCKS:
        if vecs[b] is None:
            raise ValueError(f"no {b} block was fitted (training data without dialogue context); cannot export")
        vocab = vecs[b].vocabulary_
        terms = sorted(vocab, key=vocab.get)
        if any("\n" in t for t in terms):
            raise ValueError(f"block {b}: a term contains a newline; cannot store the vocabulary")
        arrays[f"{b}_vocab"] = np.asarray("\n".join(terms))
        arrays[f"{b}_idf"] = vecs[b].idf_.astype(np.float32)
    arrays["coef"] = clf.coef_.T.astype(np.float16)
    arrays["intercept"] = clf.intercept_.astype(np.float32)
    arrays["ctx_weight"] = np.asarray(ctx_weight, np.float32)
    np.savez_compressed(path, **arrays)


def train(cfg: TextTrainConfig, out: Path, root=None) -> dict:
    """Fit on the train splits, choose C on val, fit the temperature, export to ``out``."""
    _require_sklearn()
    from sklearn.linear_model import LogisticRegression

    t0 = time.time()
    tr, va = load_split(cfg.datasets, "train", root, cfg.limit), load_split(cfg.datasets, "val", root, cfg.limit)
    vecs = build_vectorizers(cfg)
    x_tr = featurize(vecs, tr, cfg.ctx_weight, fit=True)
    x_va = featurize(vecs, va, cfg.ctx_weight)
    sw = balanced_weights(tr["y"], tr["w"])
    log.info(
        "features %s, %d train rows, %d val rows (%.0f s)", x_tr.shape, len(tr["y"]), len(va["y"]), time.time() - t0
    )
    history, best = [], None
    for c in cfg.c_grid:
        clf = LogisticRegression(C=c, max_iter=cfg.max_iter, random_state=cfg.seed)
        clf.fit(x_tr, tr["y"], sample_weight=sw)
        scores = _scores(clf.predict_proba(x_va), va)
        mean = float(np.mean(list(scores.values())))
        history.append({"C": c, "val": scores, "val_mean": mean, "seconds": round(time.time() - t0, 1)})
        log.info(
            "C=%g val %s mean %.4f (%.0f s)", c, {k: round(v, 4) for k, v in scores.items()}, mean, time.time() - t0
        )
        if best is None or mean > best[0]:
            best = (mean, c, clf)
    _, c, clf = best
    temperature = fit_temperature(clf.decision_function(x_va), va["y"])
    out.mkdir(parents=True, exist_ok=True)
    export_npz(out / f"{cfg.name}.npz", vecs, clf, cfg.ctx_weight)
    summary = {
        "config": asdict(cfg),
        "chosen_C": c,
        "temperature": temperature,
        "history": history,
        "n_features": int(x_tr.shape[1]),
        "train_rows": int(len(tr["y"])),
        "seconds": round(time.time() - t0, 1),
    }
    (out / "training_log.json").write_text(json.dumps(summary, indent=1) + "\n")
    write_models_json(out, cfg.name, temperature)
    log.info("wrote %s (C=%g, T=%.3f) in %.0f s", out / f"{cfg.name}.npz", c, temperature, time.time() - t0)
    return summary


def write_models_json(out: Path, name: str, temperature: float) -> None:
    """Register the model (kind ``text``) beside its weights; keeps measured metrics if present."""
    path = out / "models.json"
    metrics = {}
    if path.is_file():
        old = json.loads(path.read_text())
        metrics = next((m.get("metrics", {}) for m in old["models"] if m["name"] == name), {})
    entry = {
        "name": name,
        "kind": "text",
        "engine": "tfidf",
        "file": f"{name}.npz",
        "labels": list(TEXT_LABELS),
        "temperature": round(temperature, 4),
        "licence": "weights derived from GoEmotions (Apache-2.0), dair-ai emotion "
        "(research use) and MELD (GPL-3.0): see MODEL_CARD.md",
        "description": "English text emotion, 7 labels (no contempt): TF-IDF word+char n-grams, "
        "dialogue context, logistic regression",
        "card": "MODEL_CARD.md",
        "metrics": metrics,
    }
    path.write_text(json.dumps({"default": name, "models": [entry]}, indent=2) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m affectlens.train.text", description=__doc__.split("\n")[0])
    p.add_argument("--data-root", default=None, help="folder holding text/ (default $AFFECTLENS_DATA)")
    p.add_argument("--out", default="src/affectlens/weights/text-tfidf", help="output folder")
    p.add_argument("--c", type=float, nargs="+", default=None, help="C values to try (default 1 3 8)")
    p.add_argument("--ctx-weight", type=float, default=None, help="scale of the context block (default 0.5)")
    p.add_argument("--limit", type=int, default=0, help="first N rows of each data set and split (smoke tests)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = TextTrainConfig()
    if args.c:
        cfg = TextTrainConfig(**{**asdict(cfg), "c_grid": tuple(args.c)})
    if args.ctx_weight is not None:
        cfg = TextTrainConfig(**{**asdict(cfg), "ctx_weight": args.ctx_weight})
    if args.limit:
        cfg = TextTrainConfig(**{**asdict(cfg), "limit": args.limit})
    train(cfg, Path(args.out), args.data_root)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
