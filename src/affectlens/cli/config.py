"""``--config run.toml``: the file's options, then every flag given on the command line."""

from __future__ import annotations

from pathlib import Path

from affectlens.options import Options


def _flatten(tree: dict, prefix: tuple = ()) -> dict[tuple, object]:
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(_flatten(value, prefix + (key,)))
        else:
            out[prefix + (key,)] = value
    return out


def merge_config(cli: Options, path: str | Path) -> Options:
    """Options from the TOML file at ``path``, with every value the command line changed from
    its default put on top (a flag given with its default value leaves the file's value)."""
    base = Options.load(path).to_dict()
    given = _flatten(cli.to_dict())
    defaults = _flatten(Options().to_dict())
    for key in set(given) | set(defaults):
        if given.get(key) != defaults.get(key):
            node = base
            for part in key[:-1]:
                node = node.setdefault(part, {})
            if key in given:
                node[key[-1]] = given[key]
            else:
                node.pop(key[-1], None)
    return Options.from_dict(base)
