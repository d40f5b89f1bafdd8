"""Accuracy of the text emotion model on GoEmotions, dair-ai emotion and MELD test splits.

Prints one table; with ``--write`` writes benchmarks/results/text.json (the TF-IDF model) or
benchmarks/results/text_<model>.json (any other model):

    AFFECTLENS_DATA=../shared/datasets python benchmarks/text_accuracy.py --model text-minilm-l6 --write

Scorings (see affectlens/eval/text_protocol.py): GoEmotions 7 Ekman groups macro-F1 on the
single-label rows and on all rows ("any": a multi-label row counts as hit when the prediction
is one of its groups); dair-ai emotion accuracy / macro-F1 over its 5 canonical labels
(love -> happiness); MELD weighted-F1 with the 2 previous dialogue turns as context (and
without). ``unsupported_rate`` is the share of these English test texts that the language
check would wrongly call ``unsupported language``; ``ms_per_text`` the speed (whole test
sets, the model's own batching);
``ece`` the top-label expected calibration error (15 bins).
``--write-metrics`` stores the headline numbers in the model's models.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlens.eval.datasets.text import load_text_dataset  # noqa: E402
from affectlens.eval.metrics import expected_calibration_error  # noqa: E402
from affectlens.eval.text_protocol import score_dair, score_goemotions, score_meld  # noqa: E402
from affectlens.models.language import check_english  # noqa: E402
from affectlens.models.text import BaseTextModel, create_text_model  # noqa: E402
from affectlens.registry import get_model_cfg, load_models_json  # noqa: E402


def evaluate(model: BaseTextModel, split: str, root=None) -> tuple[dict, dict]:
    results, timing = {}, {}
    go = load_text_dataset("goemotions", split, root)
    t0 = time.perf_counter()
    p = model.predict_proba(go.texts)
    timing["goemotions"] = (time.perf_counter() - t0, len(go))
    results["goemotions"] = score_goemotions(p, go.labels, go.multi)
    single = go.multi.sum(axis=1) == 1
    ece = {"goemotions_single": expected_calibration_error(p[single], go.labels[single])}
    dair = load_text_dataset("dair", split, root)
    p = model.predict_proba(dair.texts)
    results["dair"] = score_dair(p, dair.labels)
    ece["dair"] = expected_calibration_error(p, dair.labels)
    meld = load_text_dataset("meld", split, root)
    t0 = time.perf_counter()
    p = model.predict_proba(meld.texts, meld.contexts)
    timing["meld"] = (time.perf_counter() - t0, len(meld))
    results["meld"] = score_meld(p, meld.labels)
    ece["meld"] = expected_calibration_error(p, meld.labels)
    results["ece"] = ece
    results["meld_no_context"] = score_meld(model.predict_proba(meld.texts), meld.labels)
    texts = list(go.texts) + list(dair.texts) + list(meld.texts)
    flagged = [t for t in texts if not check_english(t)[1]]
    results["unsupported_rate"] = {"rate": len(flagged) / len(texts), "n": len(texts), "examples": flagged[:10]}
    seconds = sum(s for s, _ in timing.values())
    results["ms_per_text"] = 1000 * seconds / sum(n for _, n in timing.values())
    return results, timing


def results_path(name: str) -> Path:
    """Where the results of text model ``name`` are written (the TF-IDF model keeps text.json)."""
    stem = "text" if name == "text-tfidf-lr" else f"text_{name}"
    return ROOT / "benchmarks" / "results" / f"{stem}.json"


def headline(r: dict, split: str) -> dict:
    s = "test" if split == "test" else split
    return {
        f"goemotions_{s}_macro_f1": round(r["goemotions"]["any"]["macro_f1"], 4),
        f"goemotions_{s}_single_macro_f1": round(r["goemotions"]["single"]["macro_f1"], 4),
        f"dair_{s}_acc": round(r["dair"]["restricted"]["accuracy"], 4),
        f"dair_{s}_macro_f1": round(r["dair"]["restricted"]["macro_f1"], 4),
        f"meld_{s}_acc": round(r["meld"]["accuracy"], 4),
        f"meld_{s}_weighted_f1": round(r["meld"]["weighted_f1"], 4),
        f"meld_{s}_weighted_f1_no_context": round(r["meld_no_context"]["weighted_f1"], 4),
        **{f"{k}_{s}_ece": round(v, 4) for k, v in r["ece"].items()},
        "unsupported_rate_english": round(r["unsupported_rate"]["rate"], 4),
        "ms_per_text": round(r["ms_per_text"], 3),
    }


def print_table(name: str, r: dict) -> None:
    import pandas as pd

    rows = [
        ("GoEmotions, all rows (any)", r["goemotions"]["any"]),
        ("GoEmotions, single-label rows", r["goemotions"]["single"]),
        ("dair-ai emotion (5 labels)", r["dair"]["restricted"]),
        ("dair-ai emotion (unrestricted)", r["dair"]["unrestricted"]),
        ("MELD (2-turn context)", r["meld"]),
        ("MELD (no context)", r["meld_no_context"]),
    ]
    table = pd.DataFrame(
        [
            {
                "model": name,
                "data": d,
                "n": m["n"],
                "accuracy": round(m["accuracy"], 4),
                "macro-F1": round(m["macro_f1"], 4),
                "weighted-F1": round(m["weighted_f1"], 4),
            }
            for d, m in rows
        ]
    )
    sys.stdout.write(table.to_string(index=False) + "\n")
    sys.stdout.write("top-label ECE: " + ", ".join(f"{k} {v:.3f}" for k, v in r["ece"].items()) + "\n")
    sys.stdout.write(
        f"English texts called 'unsupported language': {r['unsupported_rate']['rate']:.4f} "
        f"of {r['unsupported_rate']['n']}; {r['ms_per_text']:.3f} ms per text\n"
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=None, help="text model name (default: the default text model)")
    p.add_argument("--models-json", default=None, help="register the models in this models.json first")
    p.add_argument("--split", default="test", choices=("val", "test"))
    p.add_argument("--data-root", default=None, help="folder holding text/ (default $AFFECTLENS_DATA)")
    p.add_argument("--out", default=None, help="results JSON (default benchmarks/results/text[_<model>].json)")
    p.add_argument("--write", action="store_true", help="write the results JSON")
    p.add_argument("--write-metrics", action="store_true", help="store the headline numbers in models.json")
    args = p.parse_args(argv)
    if args.models_json:
        load_models_json(Path(args.models_json))
    cfg = get_model_cfg(args.model, kind="text")
    model = create_text_model(cfg, check_language=False)
    results, _ = evaluate(model, args.split, args.data_root)
    print_table(cfg.name, results)
    summary = headline(results, args.split)
    if args.write:
        out = Path(args.out) if args.out else results_path(cfg.name)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(
            json.dumps({"model": cfg.name, "split": args.split, "headline": summary, "results": results}, indent=1)
            + "\n"
        )
    if args.write_metrics:
        path = Path(cfg.folder) / "models.json"
        data = json.loads(path.read_text())
        for entry in data["models"]:
            if entry["name"] == cfg.name:
                entry["metrics"] = summary
        path.write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
