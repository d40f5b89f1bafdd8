"""Merge exported networks into one ONNX ensemble and register it (needs the ``onnx`` package).

The merged graph feeds one input to every member network and returns, for each output name
the members share (``ferplus_logits``, ``fer2013_logits``), the mean of the members' logits.
So an ensemble is an ordinary registered model: one file, one ``models.json`` entry per head,
the same preprocessing. Members must take the same input (size, colour, normalisation) and be
aligned with the same template; that is checked, not assumed. As in :mod:`affectlens.train.pack`,
mirror averaging and the temperatures are chosen on the validation split (PublicTest) only.

    python -m affectlens.train.ensemble --members runs/lite0/export runs/lite0b/export \\
        --out runs/lite0x2 --name ferplus-lite0x2 --data-root ../shared/datasets --no-flip
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from affectlens.train.export import INPUT, OUTPUTS, fer2013_name, write_models_json

log = logging.getLogger(__name__)

#: Fields every member's entry must share for the ensemble to be well defined.
SAME = ("input_size", "colour", "mean", "std", "template", "output", "labels")


def merge_onnx(paths: list[Path], out: Path, outputs: tuple[str, ...] = OUTPUTS) -> Path:
    """Write one ONNX file that runs every model in ``paths`` on a shared input and averages ``outputs``."""
    import onnx
    from onnx import compose, helper

    members = [compose.add_prefix(onnx.load(str(p)), prefix=f"m{i}_") for i, p in enumerate(paths)]
    if len(members) < 2:
        raise ValueError("an ensemble needs at least two member models")
    first = members[0].graph
    nodes, inits = [], []
    for i, m in enumerate(members):
        for node in m.graph.node:
            node.input[:] = [INPUT if name == f"m{i}_{INPUT}" else name for name in node.input]
            nodes.append(node)
        inits.extend(m.graph.initializer)
    for name in outputs:
        nodes.append(
            helper.make_node("Mean", [f"m{i}_{name}" for i in range(len(members))], [name], name=f"mean_{name}")
        )
    graph_input = onnx.ValueInfoProto()
    graph_input.CopyFrom(first.input[0])
    graph_input.name = INPUT
    graph_outputs = []
    for out_info in first.output:
        info = onnx.ValueInfoProto()
        info.CopyFrom(out_info)
        info.name = out_info.name.removeprefix("m0_")
        graph_outputs.append(info)
    graph = helper.make_graph(nodes, "ensemble", [graph_input], graph_outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=list(members[0].opset_import), producer_name="affectlens")
    model.ir_version = members[0].ir_version
    onnx.checker.check_model(model)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(out))
    _check_mean(paths, out, outputs)
    return out


def _check_mean(paths: list[Path], merged: Path, outputs: tuple[str, ...]) -> None:
    """The merged file must return the mean of its members' outputs."""
    from affectlens.models.runtime import onnx_session

    def run(path):
        sess = onnx_session(path, threads=1)
        shape = [d if isinstance(d, int) else 3 for d in sess.get_inputs()[0].shape]
        x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
        return sess.run(list(outputs), {INPUT: x})

    want = [np.mean(arrays, axis=0) for arrays in zip(*(run(p) for p in paths))]
    got = run(merged)
    err = max(float(np.abs(w - g).max()) for w, g in zip(want, got))
    if err > 1e-3:
        raise RuntimeError(f"{merged}: ensemble output differs from the members' mean by {err:.2e}")


def _member_entries(folder: Path) -> list[dict]:
    data = json.loads((Path(folder) / "models.json").read_text())
    return [e for e in data["models"] if e.get("kind") == "expression"]


def pack_ensemble(
    members: list[Path], out: Path, name: str, root, allow_flip: bool = True, description: str = ""
) -> Path:
    """Merge the expression models exported in ``members`` (registry folders) into ``out``."""
    from affectlens.train.pack import calibrate_entries

    member_entries = [_member_entries(f) for f in members]
    files = []
    for folder, entries in zip(members, member_entries):
        ref = member_entries[0]
        if len(entries) != len(ref) or any(e[k] != r[k] for e, r in zip(entries, ref) for k in SAME):
            raise ValueError(f"{folder}: its models differ from {members[0]} in one of {', '.join(SAME)}")
        if len({e["file"] for e in entries}) != 1:
            raise ValueError(f"{folder}: expected both heads in one ONNX file")
        files.append(Path(folder) / entries[0]["file"])
    out = Path(out)
    onnx_file = f"{name}.onnx"
    merge_onnx(files, out / onnx_file)
    names = {e["output"]: n for e, n in zip(member_entries[0], (name, fer2013_name(name)))}
    entries = []
    for e in member_entries[0]:
        entry = {
            **e,
            "name": names[e["output"]],
            "file": onnx_file,
            "metrics": {},
            "flip_tta": False,
            "temperature": 1.0,
        }
        if description:
            entry["description"] = f"{description} ({'8 FER+' if e['output'] == OUTPUTS[0] else '7 FER2013'} classes)"
        entries.append(entry)
    flip = calibrate_entries(entries, out, root, allow_flip=allow_flip)
    write_models_json(out, entries, default=name)
    (out / "pack.json").write_text(json.dumps({"members": [str(f) for f in files], "flip_tta": flip}, indent=2) + "\n")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="merge exported expression models into one ONNX ensemble")
    ap.add_argument("--members", nargs="+", type=Path, required=True, help="registry folders (with models.json)")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--name", required=True, help="registry name of the FER+ head, e.g. ferplus-lite0x2")
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--no-flip", action="store_true", help="never use mirror averaging (keeps it fast)")
    ap.add_argument("--description", default="")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from affectlens.eval.datasets.base import data_root

    pack_ensemble(
        args.members,
        args.out,
        args.name,
        data_root(args.data_root),
        allow_flip=not args.no_flip,
        description=args.description,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
