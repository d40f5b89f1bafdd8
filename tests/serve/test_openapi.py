"""The committed OpenAPI schema is the app's: regenerate it with
``PYTHONPATH=src python -m affectlens.serve.openapi docs/openapi.json`` when the API changes."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import require_serve

require_serve()
COMMITTED = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def test_committed_schema_matches_the_app():
    from affectlens.serve.openapi import schema

    committed = json.loads(COMMITTED.read_text(encoding="utf-8"))
    current = json.loads(json.dumps(schema(), sort_keys=True))
    assert current == committed, (
        "the API changed: regenerate docs/openapi.json with "
        "'python -m affectlens.serve.openapi docs/openapi.json' and commit it"
    )


def test_schema_documents_the_error_shape_and_key():
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert "ErrorBody" in doc["components"]["schemas"]
    assert doc["components"]["securitySchemes"]["APIKeyHeader"]["name"] == "X-API-Key"
    for path in ("/v1/analyze", "/v1/text", "/v1/jobs", "/v1/jobs/{job_id}/results", "/v1/models"):
        assert path in doc["paths"]
