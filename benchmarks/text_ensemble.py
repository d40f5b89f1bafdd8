"""Does a mix of a transformer text model and the TF-IDF model meet every target of issue 16?

The mix averages the two members' calibrated probabilities over the 7 shared labels (each
member's own temperature), either linearly, ``p = w p_transformer + (1 - w) p_tfidf``, or
log-linearly, ``log p = w log p_transformer + (1 - w) log p_tfidf + const``; one more
temperature ``T`` is applied to ``log p``. Pairs: the shipped TF-IDF model with (a) the shipped
transformer ``text-minilm-l6`` and (b) the ``question_surprise 0`` transformer (its export
folder, ``--q0``).

* ``w`` (grid 0, 0.05, ..., 1) is chosen on the validation splits only (GoEmotions dev, dair
  val, MELD dev with 2 turns of context): the largest mean of the three target scores
  (GoEmotions macro-F1 "any", dair accuracy over its 5 labels, MELD weighted-F1). ``T``: NLL
  on the union of those validation splits, for the chosen ``w``.
* Test rows: the project's scoring (:mod:`affectlens.eval.text_protocol`, as
  benchmarks/text_accuracy.py) and top-label ECE (15 bins) per test set.
* Held-out rows (as benchmarks/text_domain_shift.py): the transformer trained without MELD
  (without dair) from ``--holdout-l6``/``--holdout-q0`` (``holdout-<name>/held-out-fp32.onnx``
  of a text_domain_shift.py run) mixed with the TF-IDF recipe trained without the same data
  set (text_domain_shift.fit_held_out), with the ``w`` chosen in domain. Each held-out
  member's temperature is fitted on the validation splits of the data sets it was trained on.

Member logits are cached in ``--cache`` by member and split name (the transformers take most of
the ~25 minutes); empty the folder when a member's weights change.
``--ship MEMBER:MIX --ship-folder DIR`` writes that ensemble's registry entry (members, weights,
mix, temperature and ``uncertain`` thresholds fitted on the pooled val logits, as the other text
models') into DIR/models.json, keeping its measured metrics.
Prints the table; with ``--write`` writes benchmarks/results/text_ensemble.json.

    AFFECTLENS_DATA=../shared/datasets nice -n 10 python benchmarks/text_ensemble.py \\
        --q0 /work/ckpt-text4/export --holdout-l6 /work/ckpt-text2/shift \\
        --holdout-q0 /work/ckpt-text4/shift --cache /tmp/text-ensemble-cache --write
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from text_domain_shift import HEADLINE, fit_held_out, held_out_logits, score  # noqa: E402

from affectlens.eval.datasets.text import TEXT_DATASETS, load_text_dataset  # noqa: E402
from affectlens.eval.metrics import expected_calibration_error  # noqa: E402
from affectlens.labels import CANONICAL  # noqa: E402
from affectlens.models.expression import log_softmax  # noqa: E402
from affectlens.models.text_ensemble import mix_log_probs  # noqa: E402
from affectlens.registry import MIXES, ModelCfg, get_model_cfg  # noqa: E402
from affectlens.train.text import TEXT_LABELS, TextTrainConfig, fit_temperature  # noqa: E402

log = logging.getLogger("affectlens")

MODES = MIXES
GRID = np.round(np.linspace(0.0, 1.0, 21), 2)
TARGETS = {"goemotions": 0.62, "dair": 0.90, "meld": 0.56, "ece": 0.05, "held_out_meld": 0.402, "held_out_dair": 0.492}
_TO_CANONICAL = np.asarray([CANONICAL.index(label) for label in TEXT_LABELS])


def mix_logits(z_t: np.ndarray, z_f: np.ndarray, t_t: float, t_f: float, w: float, mode: str) -> np.ndarray:
    """Mixed log-probabilities of a transformer (weight ``w``) and the TF-IDF model."""
    return mix_log_probs((z_t, z_f), (t_t, t_f), (w, 1 - w), mode)


def canonical(logp: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities (N, 8) over the canonical labels from mixed log-probabilities."""
    out = np.zeros((len(logp), len(CANONICAL)))
    out[:, _TO_CANONICAL] = np.exp(log_softmax(logp / temperature))
    return out


class Cache:
    """Member logits per (member, data set, split) in one npz each."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, key: str, compute) -> np.ndarray:
        path = self.folder / f"{key}.npy"
        if path.is_file():
            return np.load(path)
        log.info("computing %s", key)
        z = np.asarray(compute(), np.float64)
        np.save(path, z)
        return z


def datasets(root) -> dict:
    return {(n, s): load_text_dataset(n, s, root) for n in TEXT_DATASETS for s in ("val", "test")}


def model_logits(cfg: ModelCfg):
    from affectlens.models.text import create_text_model

    if tuple(cfg.labels) != TEXT_LABELS:
        raise ValueError(f"model {cfg.name!r} scores {cfg.labels}, expected {TEXT_LABELS}")
    model = create_text_model(cfg, check_language=False, threads=1)
    return lambda ds: model.forward(list(ds.texts), list(ds.contexts))


def q0_cfg(folder: Path) -> ModelCfg:
    """The question_surprise-0 export (its models.json names it text-minilm-l6: renamed here)."""
    entry = json.loads((folder / "models.json").read_text())["models"][0]
    return replace(ModelCfg.from_json(entry, folder), name="text-minilm-q0")


def holdout_cfg(ckpt: Path) -> ModelCfg:
    from affectlens.train.text_transformer_export import _cfg

    train_cfg = json.loads((ckpt / "history.json").read_text())["config"]
    return _cfg(f"held-out-{ckpt.name}", "held-out-fp32.onnx", ckpt, train_cfg)


def pooled_temperature(pairs) -> float:
    """NLL temperature of logits pooled over (logits, TextSet) pairs."""
    z = np.concatenate([lg for lg, _ in pairs])
    y = np.concatenate([np.asarray([TEXT_LABELS.index(CANONICAL[i]) for i in ds.labels]) for _, ds in pairs])
    return fit_temperature(z, y)


def target_scores(probs: dict, data: dict, split: str) -> dict:
    """The three target scores (HEADLINE of text_domain_shift) of canonical probabilities."""
    return {n: HEADLINE[n][1](score(n, probs[n], data[(n, split)])) for n in TEXT_DATASETS}


def eces(probs: dict, data: dict) -> dict:
    go = data[("goemotions", "test")]
    single = go.multi.sum(axis=1) == 1
    out = {"goemotions_single": expected_calibration_error(probs["goemotions"][single], go.labels[single])}
    for n in ("dair", "meld"):
        out[n] = expected_calibration_error(probs[n], data[(n, "test")].labels)
    return out


def choose(z_t: dict, z_f: dict, temps: tuple[float, float], data: dict, mode: str) -> dict:
    """``w`` with the best mean val target score, then the mix temperature on pooled val."""
    curve = []
    for w in GRID:
        probs = {n: canonical(mix_logits(z_t[n], z_f[n], *temps, w, mode)) for n in TEXT_DATASETS}
        s = target_scores(probs, data, "val")
        curve.append(
            {
                "w": float(w),
                **{k: round(v, 4) for k, v in s.items()},
                "mean": round(float(np.mean(list(s.values()))), 4),
            }
        )
    best = max(curve, key=lambda r: r["mean"])
    mixed = [(mix_logits(z_t[n], z_f[n], *temps, best["w"], mode), data[(n, "val")]) for n in TEXT_DATASETS]
    return {"w": best["w"], "temperature": round(pooled_temperature(mixed), 4), "val": best, "val_curve": curve}


def test_row(z_t: dict, z_f: dict, temps, w: float, t_mix: float, mode: str, data: dict) -> dict:
    probs = {n: canonical(mix_logits(z_t[n], z_f[n], *temps, w, mode), t_mix) for n in TEXT_DATASETS}
    s = target_scores(probs, data, "test")
    return {**{k: round(v, 4) for k, v in s.items()}, "ece": {k: round(v, 4) for k, v in eces(probs, data).items()}}


def member_logits(cache: Cache, key: str, run, data: dict) -> dict:
    """{split: {data set: logits}} of one in-domain member, val and test."""
    z = cached_logits(cache, key, run, data, list(data))
    return {s: {n: z[(n, s)] for n in TEXT_DATASETS} for s in ("val", "test")}


class HeldOutTfidf:
    """The TF-IDF recipe trained without data set ``name``, fitted on first use (~2 CPU minutes)."""

    def __init__(self, name: str, root):
        self.name, self.root, self.cfg, self.fitted = name, root, TextTrainConfig(), None

    def __call__(self, ds) -> np.ndarray:
        if self.fitted is None:
            self.fitted = fit_held_out(self.name, self.root, self.cfg, 3.0)
        vecs, clf, _ = self.fitted
        return held_out_logits(vecs, clf, self.cfg, ds.texts, ds.contexts)


def cached_logits(cache: Cache, prefix: str, run, data: dict, need) -> dict:
    return {(n, s): cache.get(f"{prefix}-{n}-{s}", lambda n=n, s=s: run(data[(n, s)])) for n, s in need}


def held_out_members(args, data: dict, cache: Cache) -> dict:
    """Per held-out data set: {member: (test logits, temperature)} for tfidf, l6, q0."""
    out = {}
    for name in ("meld", "dair"):
        others = [d for d in TEXT_DATASETS if d != name]
        need = [(name, "test")] + [(d, "val") for d in others]
        runs = {"tfidf": HeldOutTfidf(name, args.data_root)}
        for tag, folder in (("l6", args.holdout_l6), ("q0", args.holdout_q0)):
            if folder:
                runs[tag] = model_logits(holdout_cfg(Path(folder) / f"holdout-{name}"))
        members = {}
        for tag, run in runs.items():
            z = cached_logits(cache, f"holdout-{name}-{tag}", run, data, need)
            t = pooled_temperature([(z[(d, "val")], data[(d, "val")]) for d in others])
            members[tag] = (z[(name, "test")], t)
        out[name] = members
    return out


def held_out_score(members: dict, tag: str, w: float | None, mode: str, data: dict) -> dict:
    """Held-out scores of member ``tag`` alone (``w`` None) or mixed with the held-out TF-IDF."""
    out = {}
    for name, m in members.items():
        (z_t, t_t), (z_f, t_f) = m[tag], m["tfidf"]
        logp = log_softmax(z_t, t_t) if w is None else mix_logits(z_t, z_f, t_t, t_f, w, mode)
        out[name] = round(HEADLINE[name][1](score(name, canonical(logp), data[(name, "test")])), 4)
    return out


def meets(row: dict) -> dict:
    checks = {
        "goemotions": row["goemotions"] >= TARGETS["goemotions"],
        "dair": row["dair"] >= TARGETS["dair"],
        "meld": row["meld"] >= TARGETS["meld"],
        "ece": max(row["ece"].values()) <= TARGETS["ece"],
    }
    for name in ("meld", "dair"):
        if name in row.get("held_out", {}):
            checks[f"held_out_{name}"] = row["held_out"][name] > TARGETS[f"held_out_{name}"]
    return checks


def run(args) -> dict:
    data = datasets(args.data_root)
    cache = Cache(Path(args.cache))
    tf_cfg = get_model_cfg("text-tfidf-lr", kind="text")
    members = {"text-minilm-l6": get_model_cfg("text-minilm-l6", kind="text")}
    if args.q0:
        members["text-minilm-q0"] = q0_cfg(Path(args.q0))
    z_f = member_logits(cache, "tfidf", model_logits(tf_cfg), data)
    tags = {name: "l6" if name == "text-minilm-l6" else "q0" for name in members}
    z = {name: member_logits(cache, tags[name], model_logits(cfg), data) for name, cfg in members.items()}
    held = held_out_members(args, data, cache) if (args.holdout_l6 or args.holdout_q0) else {}
    rows = []
    alone = test_row(z_f["test"], z_f["test"], (tf_cfg.temperature, tf_cfg.temperature), 0.0, 1.0, "linear", data)
    rows.append(
        {
            "model": "text-tfidf-lr",
            "w": 0.0,
            **alone,
            "held_out": held_out_score(held, "tfidf", None, "", data) if held else {},
        }
    )
    for name, cfg in members.items():
        tag, z_t = tags[name], z[name]
        temps = (cfg.temperature, tf_cfg.temperature)
        solo = test_row(z_t["test"], z_f["test"], temps, 1.0, 1.0, "linear", data)
        ho = held_out_score(held, tag, None, "", data) if all(tag in m for m in held.values()) else {}
        rows.append({"model": name, "w": 1.0, **solo, "held_out": ho})
        for mode in MODES:
            pick = choose(z_t["val"], z_f["val"], temps, data, mode)
            row = test_row(z_t["test"], z_f["test"], temps, pick["w"], pick["temperature"], mode, data)
            ho = held_out_score(held, tag, pick["w"], mode, data) if ho else {}
            rows.append({"model": f"{name} + text-tfidf-lr ({mode})", "mode": mode, **pick, **row, "held_out": ho})
    for row in rows:
        row["meets"] = meets(row)
        row["meets_every_target"] = bool(row["held_out"]) and all(row["meets"].values())
    temps = {n: {tag: round(t, 4) for tag, (_, t) in m.items()} for n, m in held.items()}
    member_temps = {name: cfg.temperature for name, cfg in {"text-tfidf-lr": tf_cfg, **members}.items()}
    return {
        "targets": TARGETS,
        "grid": GRID.tolist(),
        "rows": rows,
        "member_temperatures": member_temps,
        "held_out_member_temperatures": temps,
    }


def ensemble_entry(args, out: dict, data: dict) -> dict:
    """The registry entry of ensemble ``--ship MEMBER:MODE`` (its row's ``w`` and temperature),
    with ``uncertain`` thresholds fitted on the pooled val splits like the other text models'."""
    from affectlens.train.text_transformer_export import LICENCE, fit_thresholds

    member, mode = args.ship.split(":")
    row = next((r for r in out["rows"] if r["model"] == f"{member} + text-tfidf-lr ({mode})"), None)
    if row is None:
        raise ValueError(f"--ship {args.ship!r}: no such ensemble row; valid: transformer name:mix")
    cache = Cache(Path(args.cache))
    tag = "l6" if member == "text-minilm-l6" else "q0"
    temps = (out["member_temperatures"][member], out["member_temperatures"]["text-tfidf-lr"])
    z_t, z_f = (member_logits(cache, key, None, data)["val"] for key in (tag, "tfidf"))
    logits = np.concatenate([mix_logits(z_t[n], z_f[n], *temps, row["w"], mode) for n in TEXT_DATASETS])
    y = np.concatenate([[TEXT_LABELS.index(CANONICAL[i]) for i in data[(n, "val")].labels] for n in TEXT_DATASETS])
    return {
        "name": args.ship_name,
        "kind": "text",
        "file": "",
        "engine": "ensemble",
        "labels": list(TEXT_LABELS),
        "members": [member, "text-tfidf-lr"],
        "member_weights": [row["w"], round(1 - row["w"], 4)],
        "mix": mode,
        "temperature": row["temperature"],
        "licence": LICENCE,
        "description": f"English text emotion, 7 labels (no contempt): {mode.replace('log', 'log-')} mix of {member} "
        f"(weight {row['w']}) and text-tfidf-lr, weights chosen on val",
        "card": "MODEL_CARD.md",
        "metrics": {},
        "thresholds": fit_thresholds(logits, y, row["temperature"]),
    }


def write_entry(folder: Path, entry: dict) -> None:
    """Add or replace ``entry`` in ``folder``/models.json (other entries and the default kept)."""
    path = folder / "models.json"
    data = json.loads(path.read_text())
    old = next((m for m in data["models"] if m["name"] == entry["name"]), None)
    if old is not None:
        entry = {**entry, "metrics": old.get("metrics", {})}
    data["models"] = [m for m in data["models"] if m["name"] != entry["name"]] + [entry]
    path.write_text(json.dumps(data, indent=2) + "\n")


def print_table(out: dict) -> None:
    import pandas as pd

    table = pd.DataFrame(
        [
            {
                "model": r["model"],
                "w": r["w"],
                "T": r.get("temperature", ""),
                "GoEmo mF1": r["goemotions"],
                "dair acc": r["dair"],
                "MELD wF1": r["meld"],
                "ECE go/dair/meld": "/".join(f"{v:.3f}" for v in r["ece"].values()),
                "held-out MELD": r["held_out"].get("meld", ""),
                "held-out dair": r["held_out"].get("dair", ""),
                "all targets": r["meets_every_target"],
            }
            for r in out["rows"]
        ]
    )
    sys.stdout.write(table.to_string(index=False) + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-root", default=None, help="folder holding text/ (default $AFFECTLENS_DATA)")
    p.add_argument("--q0", default=None, help="export folder of the question_surprise-0 transformer")
    p.add_argument("--holdout-l6", default=None, help="text_domain_shift checkpoints of the shipped recipe")
    p.add_argument("--holdout-q0", default=None, help="text_domain_shift checkpoints of the question_surprise-0 recipe")
    p.add_argument("--cache", default="/tmp/text-ensemble-cache", help="member logits cache folder")
    p.add_argument("--out", default=str(ROOT / "benchmarks" / "results" / "text_ensemble.json"))
    p.add_argument("--write", action="store_true", help="write the results JSON")
    p.add_argument(
        "--ship", default=None, help="write the registry entry of ensemble MEMBER:MIX (e.g. text-minilm-q0:loglinear)"
    )
    p.add_argument("--ship-name", default="text-ensemble", help="name of the shipped ensemble")
    p.add_argument("--ship-folder", default=None, help="weights folder whose models.json gets the ensemble entry")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = run(args)
    print_table(out)
    if args.ship:
        write_entry(Path(args.ship_folder), ensemble_entry(args, out, datasets(args.data_root)))
    if args.write:
        Path(args.out).write_text(
            json.dumps({"args": {k: v for k, v in vars(args).items() if k != "write"}, **out}, indent=1) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
