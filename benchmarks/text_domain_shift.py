"""How the text recipe does on a domain it never saw: leave one data set out of training.

For each held-out data set, the shipped recipe (C = 3, the same features) is trained on the
train splits of the other two and scored on the held-out test split with the same scoring as
benchmarks/text_accuracy.py; the in-domain row is the shipped model. With MELD held out there
is no dialogue data in training, hence no context features. Prints a table; with ``--write``
writes benchmarks/results/text_domain_shift.json (TF-IDF) or text_domain_shift_<model>.json.
Needs the [train] extra; about 2 CPU minutes per held-out set for TF-IDF.

``--model text-minilm-l6`` runs the transformer recipe (affectlens/train/text_transformer.py)
instead, resumable from ``--checkpoints``/holdout-<name>; ``--max-minutes`` and
``--max-steps`` shorten its training (say so when reporting the numbers). It is scored with
the float32 ONNX export of its best checkpoint (arg-max, so no temperature is needed).

    AFFECTLENS_DATA=../shared/datasets python benchmarks/text_domain_shift.py --holdout meld dair --write
    AFFECTLENS_DATA=../shared/datasets python benchmarks/text_domain_shift.py --model text-minilm-l6 \
        --holdout meld dair --checkpoints /tmp/ckpt-text --max-minutes 12 --write
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlens.eval.datasets.text import TEXT_DATASETS, load_text_dataset  # noqa: E402
from affectlens.eval.text_protocol import score_dair, score_goemotions, score_meld  # noqa: E402
from affectlens.labels import CANONICAL  # noqa: E402
from affectlens.train.text import (  # noqa: E402
    TEXT_LABELS,
    TextTrainConfig,
    balanced_weights,
    build_vectorizers,
    featurize,
    load_split,
)

HEADLINE = {
    "goemotions": ("GoEmotions macro-F1 (any)", lambda r: r["any"]["macro_f1"]),
    "dair": ("dair accuracy (5 labels)", lambda r: r["restricted"]["accuracy"]),
    "meld": ("MELD weighted-F1 (context)", lambda r: r["weighted_f1"]),
}


def score(name: str, probs: np.ndarray, ds) -> dict:
    if name == "goemotions":
        return score_goemotions(probs, ds.labels, ds.multi)
    if name == "dair":
        return score_dair(probs, ds.labels)
    return score_meld(probs, ds.labels)


def fit_held_out(name: str, root, cfg: TextTrainConfig, c: float) -> tuple[dict, object, list[str]]:
    """The TF-IDF recipe fitted on the train splits of every data set but ``name``:
    (vectorizers, classifier, the data sets trained on)."""
    from sklearn.linear_model import LogisticRegression

    train_sets = [d for d in TEXT_DATASETS if d != name]
    tr = load_split(train_sets, "train", root)
    vecs = build_vectorizers(cfg)
    x = featurize(vecs, tr, cfg.ctx_weight, fit=True)
    clf = LogisticRegression(C=c, max_iter=cfg.max_iter).fit(
        x, tr["y"], sample_weight=balanced_weights(tr["y"], tr["w"])
    )
    return vecs, clf, train_sets


def held_out_logits(vecs: dict, clf, cfg: TextTrainConfig, texts, contexts) -> np.ndarray:
    """Logits (N, len(TEXT_LABELS)) of a model from :func:`fit_held_out`."""
    x = featurize(vecs, {"texts": list(texts), "contexts": list(contexts)}, cfg.ctx_weight)
    return clf.decision_function(x)


def held_out(name: str, root, cfg: TextTrainConfig, c: float) -> dict:
    vecs, clf, train_sets = fit_held_out(name, root, cfg, c)
    ds = load_text_dataset(name, "test", root)
    logits = held_out_logits(vecs, clf, cfg, ds.texts, ds.contexts)
    z = np.exp(logits - logits.max(1, keepdims=True))
    probs = np.zeros((len(ds), len(CANONICAL)))
    probs[:, [CANONICAL.index(label) for label in TEXT_LABELS]] = z / z.sum(1, keepdims=True)
    return {"trained_on": train_sets, "result": score(name, probs, ds)}


def held_out_transformer(name: str, root, ckpt_root: Path, max_minutes, max_steps, question_surprise=None) -> dict:
    from dataclasses import replace

    from affectlens.models.text import create_text_model
    from affectlens.train.text_transformer import TransformerTrainConfig, train
    from affectlens.train.text_transformer_export import _cfg, export_onnx

    train_sets = tuple(d for d in TEXT_DATASETS if d != name)
    over = {"max_minutes": max_minutes, "max_steps": max_steps, "question_surprise": question_surprise}
    cfg = replace(TransformerTrainConfig(datasets=train_sets), **{k: v for k, v in over.items() if v is not None})
    ckpt = ckpt_root / f"holdout-{name}"
    best = train(cfg, ckpt, root)
    onnx_path = ckpt / "held-out-fp32.onnx"
    train_cfg = export_onnx(best, onnx_path)
    import shutil

    from affectlens.train.minilm import base_dir

    shutil.copy(base_dir() / "tokenizer.json", ckpt / "tokenizer.json")
    model = create_text_model(_cfg(f"held-out-{name}", onnx_path.name, ckpt, train_cfg), check_language=False)
    ds = load_text_dataset(name, "test", root)
    probs = model.predict_proba(ds.texts, ds.contexts)
    history = json.loads((ckpt / "history.json").read_text())["state"]
    return {
        "trained_on": list(train_sets),
        "result": score(name, probs, ds),
        "config": asdict(cfg),
        "stopped": history.get("stopped"),
        "steps": history["step"],
        "best_step": history["best_step"],
        "minutes": round(history["elapsed"] / 60, 1),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--holdout", nargs="+", default=list(TEXT_DATASETS), choices=TEXT_DATASETS)
    p.add_argument("--model", default="text-tfidf-lr", choices=("text-tfidf-lr", "text-minilm-l6"))
    p.add_argument("--data-root", default=None)
    p.add_argument("--c", type=float, default=3.0, help="TF-IDF: the C of the logistic regression")
    p.add_argument("--checkpoints", default="/tmp/ckpt-text", help="transformer: checkpoint folder (resumable)")
    p.add_argument("--max-minutes", type=float, default=None, help="transformer: training budget per held-out set")
    p.add_argument("--max-steps", type=int, default=None, help="transformer: training steps per held-out set")
    p.add_argument(
        "--question-surprise", type=float, default=None, help="transformer: the recipe's question_surprise (default 1)"
    )
    p.add_argument("--out", default=None)
    p.add_argument("--write", action="store_true", help="write the results JSON")
    args = p.parse_args(argv)
    stem = "text" if args.model == "text-tfidf-lr" else f"text_{args.model}"
    in_domain_path = ROOT / "benchmarks" / "results" / f"{stem}.json"
    cfg = TextTrainConfig()
    rows, out = [], {"model": args.model, "held_out": {}}
    if args.model == "text-tfidf-lr":
        out.update(config=asdict(cfg), C=args.c)
    for name in args.holdout:
        if args.model == "text-tfidf-lr":
            r = held_out(name, args.data_root, cfg, args.c)
        else:
            r = held_out_transformer(
                name, args.data_root, Path(args.checkpoints), args.max_minutes, args.max_steps, args.question_surprise
            )
        out["held_out"][name] = r
        label, get = HEADLINE[name]
        in_domain = json.loads(in_domain_path.read_text())["results"] if in_domain_path.is_file() else None
        rows.append(
            {
                "test set": name,
                "metric": label,
                "in domain (shipped model)": round(get(in_domain[name]), 4) if in_domain else None,
                "held out of training": round(get(r["result"]), 4),
                "trained on": "+".join(r["trained_on"]),
            }
        )
    import pandas as pd

    sys.stdout.write(pd.DataFrame(rows).to_string(index=False) + "\n")
    if args.write:
        suffix = "" if args.model == "text-tfidf-lr" else f"_{args.model}"
        path = Path(args.out) if args.out else ROOT / "benchmarks" / "results" / f"text_domain_shift{suffix}.json"
        path.write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
