"""How the text recipe does on a domain it never saw: leave one data set out of training.

For each held-out data set, the shipped recipe (C = 3, the same features) is trained on the
train splits of the other two and scored on the held-out test split with the same scoring as
benchmarks/text_accuracy.py; the in-domain row is the shipped model. With MELD held out there
is no dialogue data in training, hence no context features. Prints a table; ``--write`` also writes
benchmarks/results/text_domain_shift.json (``--out PATH``: there). Needs the [train] extra; about 2 CPU minutes per
held-out set.

    AFFECTLENS_DATA=../shared/datasets python benchmarks/text_domain_shift.py --holdout meld dair [--write]
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

HEADLINE = {"goemotions": ("GoEmotions macro-F1 (any)", lambda r: r["any"]["macro_f1"]),
            "dair": ("dair accuracy (5 labels)", lambda r: r["restricted"]["accuracy"]),
            "meld": ("MELD weighted-F1 (context)", lambda r: r["weighted_f1"])}


def score(name: str, probs: np.ndarray, ds) -> dict:
    if name == "goemotions":
        return score_goemotions(probs, ds.labels, ds.multi)
    if name == "dair":
        return score_dair(probs, ds.labels)
    return score_meld(probs, ds.labels)


def held_out(name: str, root, cfg: TextTrainConfig, c: float) -> dict:
    from sklearn.linear_model import LogisticRegression

    train_sets = [d for d in TEXT_DATASETS if d != name]
    tr = load_split(train_sets, "train", root)
    vecs = build_vectorizers(cfg)
    x = featurize(vecs, tr, cfg.ctx_weight, fit=True)
    clf = LogisticRegression(C=c, max_iter=cfg.max_iter).fit(x, tr["y"], sample_weight=balanced_weights(tr["y"], tr["w"]))
    ds = load_text_dataset(name, "test", root)
    xt = featurize(vecs, {"texts": list(ds.texts), "contexts": list(ds.contexts)}, cfg.ctx_weight)
    probs = np.zeros((len(ds), len(CANONICAL)))
    probs[:, [CANONICAL.index(label) for label in TEXT_LABELS]] = clf.predict_proba(xt)
    return {"trained_on": train_sets, "result": score(name, probs, ds)}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--holdout", nargs="+", default=list(TEXT_DATASETS), choices=TEXT_DATASETS)
    p.add_argument("--data-root", default=None)
    p.add_argument("--c", type=float, default=3.0)
    p.add_argument("--out", default=None, help="write the results here instead")
    p.add_argument("--write", action="store_true", help="write benchmarks/results/text_domain_shift.json (default: print only)")
    args = p.parse_args(argv)
    in_domain = json.loads((ROOT / "benchmarks" / "results" / "text.json").read_text())["results"]
    cfg = TextTrainConfig()
    rows, out = [], {"config": asdict(cfg), "C": args.c, "held_out": {}}
    for name in args.holdout:
        r = held_out(name, args.data_root, cfg, args.c)
        out["held_out"][name] = r
        label, get = HEADLINE[name]
        rows.append({"test set": name, "metric": label, "in domain (shipped model)": round(get(in_domain[name]), 4),
                     "held out of training": round(get(r["result"]), 4), "trained on": "+".join(r["trained_on"])})
    import pandas as pd

    sys.stdout.write(pd.DataFrame(rows).to_string(index=False) + "\n")
    path = args.out or (str(ROOT / "benchmarks" / "results" / "text_domain_shift.json") if args.write else None)
    if path:
        Path(path).write_text(json.dumps(out, indent=1) + "\n")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
