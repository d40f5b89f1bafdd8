"""schemathesis against the committed OpenAPI schema on a real server: no request the schema
allows (or nearly allows) makes the server answer 5xx, and every error has the one shape."""

from __future__ import annotations

from pathlib import Path

import pytest

from .helpers import require_serve

require_serve()
schemathesis = pytest.importorskip("schemathesis", reason="the fuzz test needs schemathesis (pip install schemathesis)")
from hypothesis import HealthCheck, settings  # noqa: E402

from .helpers import ThreadServer, wait_ready  # noqa: E402

pytestmark = pytest.mark.slow
SCHEMA = schemathesis.openapi.from_path(Path(__file__).resolve().parents[2] / "docs" / "openapi.json")


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    import httpx

    from affectlens.serve import Settings, create_app

    settings_ = Settings(
        data_dir=tmp_path_factory.mktemp("fuzz"), rate_per_minute=100000, max_upload_mb=2, request_timeout_s=20
    )
    with ThreadServer(create_app(settings_)) as srv:
        with httpx.Client(base_url=srv.url) as c:
            wait_ready(c)
        yield srv


@SCHEMA.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, server):
    response = case.call(base_url=server.url, timeout=60)
    assert response.status_code < 500, (case.method, case.path, response.status_code, response.text[:300])
    ctype = response.headers.get("content-type") or [""]
    if response.status_code >= 400 and (ctype[0] if isinstance(ctype, list) else ctype).startswith("application/json"):
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
