"""``affectlens models``: one line per registered model, within 100 columns."""

from __future__ import annotations

import json
import sys

#: Metrics shown in the table, first match per model (all of them: ``--json``).
HEADLINE = (
    "ferplus_majority_test_acc",
    "ferplus_test_acc",
    "fer2013_test_acc",
    "ravdess_actor_kfold_acc",
    "goemotions_ekman_test_macro_f1",
    "meld_test_weighted_f1",
)
SPEED = ("ms_per_face", "ms_per_utterance", "ms_per_text")


def rows() -> list[dict]:
    from affectlens.registry import default_model_name, list_models

    cfgs = list_models()
    defaults = {default_model_name(kind) for kind in {c.kind for c in cfgs}}
    out = []
    for c in cfgs:
        order = HEADLINE if len(c.labels) != 7 or c.kind != "expression" else ("fer2013_test_acc",) + HEADLINE
        metric = next((k for k in order if k in c.metrics), None)
        speed = next((k for k in SPEED if k in c.metrics), None)
        out.append(
            {
                "name": c.name + (" *" if c.name in defaults else ""),
                "kind": c.kind,
                "labels": len(c.labels),
                "metric": metric.replace("_test", "").replace("_", " ") if metric else "-",
                "value": f"{c.metrics[metric]:.3f}" if metric else "-",
                "ms": f"{c.metrics[speed]:.2f}" if speed else "-",
            }
        )
    return out


def print_models(as_json: bool) -> int:
    from affectlens.registry import default_model_name, list_models

    if as_json:
        cfgs = list_models()
        defaults = {default_model_name(kind) for kind in {c.kind for c in cfgs}}
        for c in cfgs:
            sys.stdout.write(json.dumps({**c.to_json(), "default": c.name in defaults}) + "\n")
        return 0
    import pandas as pd

    sys.stdout.write(
        pd.DataFrame(rows()).to_string(index=False) + "\n* default model of its kind; "
        "every metric: affectlens models --json\n"
    )
    return 0
