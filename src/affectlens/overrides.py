"""User overrides of shipped model configs: thresholds and temperature fitted on this machine.

``affectlens calibrate --write`` stores what it fits here, never inside the installed package,
and the registry (:func:`affectlens.registry.get_model_cfg`) reads it on top of the shipped
``models.json``. One JSON file per model, ``<name>.json``::

    {"name": "ferplus-lite0", "thresholds": {"margin": 0.12, ...}, "temperature": 1.3}

``thresholds`` are merged key by key over the shipped ones; ``temperature`` replaces the shipped
one. The folder is ``$AFFECTLENS_HOME/models`` when ``AFFECTLENS_HOME`` is set, else the
platform's user configuration folder:

- Linux and other Unix: ``$XDG_CONFIG_HOME/affectlens/models`` (default ``~/.config/affectlens/models``)
- macOS: ``~/Library/Application Support/affectlens/models``
- Windows: ``%APPDATA%\\affectlens\\models``

A file elsewhere is read after :func:`affectlens.registry.load_overrides`.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

#: The config fields an override file may set.
OVERRIDABLE = ("thresholds", "temperature")


def user_dir() -> Path:
    """affectlens's per-user folder: ``$AFFECTLENS_HOME`` or the platform's config folder."""
    if os.environ.get("AFFECTLENS_HOME"):
        return Path(os.environ["AFFECTLENS_HOME"]).expanduser()
    if sys.platform == "win32":
        return Path(os.environ.get("APPDATA") or Path.home() / "AppData" / "Roaming") / "affectlens"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "affectlens"
    return Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "affectlens"


def overrides_dir() -> Path:
    """The folder of the per-model override files (see the module docstring)."""
    return user_dir() / "models"


def override_path(name: str) -> Path:
    """Where the override file of model ``name`` lives in :func:`overrides_dir`."""
    return overrides_dir() / f"{name}.json"


def read_override(path: str | Path) -> dict:
    """The checked contents of one override file: ``name`` and some of :data:`OVERRIDABLE`."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: cannot read model overrides ({exc})") from None
    return check_override(data, str(path))


def check_override(data, where: str) -> dict:
    """``data`` if it is a valid override (``name`` and some of :data:`OVERRIDABLE`); ``where`` names it in errors."""
    if not isinstance(data, dict) or not isinstance(data.get("name"), str):
        raise ValueError(f'{where}: model overrides must be a JSON object with a "name"')
    unknown = sorted(set(data) - {"name", *OVERRIDABLE})
    if unknown:
        raise ValueError(f"{where}: cannot override {', '.join(unknown)}; valid: {', '.join(OVERRIDABLE)}")
    if "thresholds" in data and not isinstance(data["thresholds"], dict):
        raise ValueError(f'{where}: "thresholds" must be a JSON object')
    t = data.get("temperature", 1.0)
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
        raise ValueError(f'{where}: "temperature" must be a number > 0, got {t!r}')
    return data


def write_override(name: str, path: str | Path | None = None, **values) -> Path:
    """Store ``values`` (``thresholds`` and/or ``temperature``) for model ``name`` and return the file.

    ``path`` defaults to :func:`override_path`. Fields already in the file and not in ``values``
    are kept. The file is replaced in one step, so a reader never sees half of it.
    """
    unknown = sorted(set(values) - set(OVERRIDABLE))
    if unknown:
        raise ValueError(f"model {name!r}: cannot override {', '.join(unknown)}; valid: {', '.join(OVERRIDABLE)}")
    path = Path(path) if path is not None else override_path(name)
    data = read_override(path) if path.is_file() else {"name": name}
    if data["name"] != name:
        raise ValueError(f"{path}: holds overrides of model {data['name']!r}, not {name!r}")
    data = check_override({**data, **values}, str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path
