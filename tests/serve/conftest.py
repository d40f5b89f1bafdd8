"""Fixtures of the service tests: an app built in-process, and a real uvicorn server in a thread
(for what only a socket shows: bodies refused before they are read, slow uploads)."""

from __future__ import annotations

import pytest

from .helpers import wait_ready


@pytest.fixture
def make_client(tmp_path):
    """Build an app with settings and enter its lifespan; every client is closed at the end."""
    from fastapi.testclient import TestClient

    from affectlens.serve import Settings, create_app

    clients = []

    def make(**settings):
        settings.setdefault("data_dir", tmp_path / f"data{len(clients)}")
        client = TestClient(create_app(Settings(**settings)))
        client.__enter__()
        clients.append(client)
        wait_ready(client, headers={"X-API-Key": settings.get("api_key") or ""})
        return client

    yield make
    for c in clients:
        c.__exit__(None, None, None)
