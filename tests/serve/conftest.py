"""Fixtures of the service tests: an app built in-process, and a real uvicorn server in a thread
(for what only a socket shows: bodies refused before they are read, slow uploads)."""

from __future__ import annotations

import socket
import threading
import time

import pytest

pytest.importorskip("fastapi", reason="needs the [serve] extra: pip install 'affectlens[serve]'")
pytest.importorskip("uvicorn", reason="needs the [serve] extra: pip install 'affectlens[serve]'")
pytest.importorskip("python_multipart", reason="needs the [serve] extra: pip install 'affectlens[serve]'")
pytest.importorskip("prometheus_client", reason="needs the [serve] extra: pip install 'affectlens[serve]'")


def wait_ready(client, timeout: float = 120.0, headers=None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if client.get("/readyz", headers=headers).status_code == 200:
            return
        time.sleep(0.2)
    raise TimeoutError("the service did not load its models in time")


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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ThreadServer:
    """uvicorn serving an app on a loopback port from a thread."""

    def __init__(self, app):
        import uvicorn

        self.port = free_port()
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self):
        self.thread.start()
        end = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > end:
                raise TimeoutError("uvicorn did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
