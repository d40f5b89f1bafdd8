"""The committed OpenAPI schema (``docs/openapi.json``): ``python -m affectlens.serve.openapi FILE``
writes it; a test fails when the app's schema and the committed copy differ."""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path


def schema() -> dict:
    from affectlens.serve import Settings, create_app

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(data_dir=Path(tmp), load_models=False))
        return app.openapi()


def text() -> str:
    return json.dumps(schema(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    if out:
        out.write_text(text(), encoding="utf-8")
    else:
        sys.stdout.write(text())
