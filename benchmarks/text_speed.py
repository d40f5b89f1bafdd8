"""Speed of the text models: latency of one short text and throughput on 10,000 lines.

For each model (default: every registered text model):

* ``ms_per_short_text``: median wall time of ``predict_proba([text])`` (batch 1) over short
  real test texts (GoEmotions test rows of at most 12 words), after warm-up;
* ``texts_per_s``: 10,000 real test lines (GoEmotions, dair-ai emotion and MELD test texts, in
  that order) scored in one call of ``predict`` with the language check, as
  ``affectlens text --file`` does; ``texts_per_s_no_language_check`` without it.

onnxruntime models run with ``--threads`` intra-op threads (default 2); the TF-IDF model is
single-threaded numpy. The 1-minute load average is stored beside the numbers (a busy machine
makes them slower). Prints a table; with ``--write`` writes benchmarks/results/text_speed.json.

    AFFECTLENS_DATA=../shared/datasets python benchmarks/text_speed.py --write
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from affectlens.eval.datasets.text import load_text_dataset  # noqa: E402
from affectlens.models.text import create_text_model  # noqa: E402
from affectlens.registry import get_model_cfg, list_models  # noqa: E402


def lines(root, n: int) -> list[str]:
    out = []
    for name in ("goemotions", "dair", "meld"):
        out.extend(load_text_dataset(name, "test", root).texts)
    if len(out) < n:
        raise ValueError(f"only {len(out)} test lines, asked for {n}")
    return out[:n]


def short_texts(root, n: int) -> list[str]:
    texts = [t for t in load_text_dataset("goemotions", "test", root).texts if len(t.split()) <= 12]
    return texts[:n]


def build(name: str, threads: int, check_language: bool):
    cfg = get_model_cfg(name, kind="text")
    if cfg.engine == "transformer":
        from affectlens.models.text_transformer import TransformerTextModel

        return TransformerTextModel(cfg, check_language=check_language, threads=threads)
    return create_text_model(cfg, check_language=check_language)


def measure(name: str, root, threads: int, n_lines: int, n_short: int) -> dict:
    model = build(name, threads, check_language=False)
    short = short_texts(root, n_short)
    for t in short[:10]:
        model.predict_proba([t])
    times = []
    for t in short:
        t0 = time.perf_counter()
        model.predict_proba([t])
        times.append(time.perf_counter() - t0)
    batch = lines(root, n_lines)
    t0 = time.perf_counter()
    model.predict(batch)
    no_lang = time.perf_counter() - t0
    checked = build(name, threads, check_language=True)
    t0 = time.perf_counter()
    checked.predict(batch)
    with_lang = time.perf_counter() - t0
    return {
        "ms_per_short_text": round(1000 * float(np.median(times)), 3),
        "ms_per_short_text_p90": round(1000 * float(np.quantile(times, 0.9)), 3),
        "texts_per_s": round(n_lines / with_lang, 1),
        "texts_per_s_no_language_check": round(n_lines / no_lang, 1),
        "n_short": len(short),
        "n_lines": n_lines,
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", nargs="+", default=None, help="text model names (default: all)")
    p.add_argument("--data-root", default=None)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--lines", type=int, default=10_000)
    p.add_argument("--short", type=int, default=200)
    p.add_argument("--write", action="store_true", help="write the results JSON (--out)")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "text_speed.json"))
    args = p.parse_args(argv)
    names = args.model or [c.name for c in list_models("text")]
    results = {name: measure(name, args.data_root, args.threads, args.lines, args.short) for name in names}
    import pandas as pd

    sys.stdout.write(pd.DataFrame([{"model": k, **v} for k, v in results.items()]).to_string(index=False) + "\n")
    if args.write:
        Path(args.out).write_text(
            json.dumps(
                {
                    "threads": args.threads,
                    "machine": platform.machine(),
                    "cpus": os.cpu_count(),
                    "load_average_1min": round(os.getloadavg()[0], 2),
                    "results": results,
                },
                indent=1,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
