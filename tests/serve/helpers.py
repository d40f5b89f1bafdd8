"""Helpers of the service tests: waiting for readiness, a free port, uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time

import pytest


def require_serve() -> None:
    """Skip the calling test module, naming the extra, when the [serve] extra is missing."""
    for module in ("fastapi", "uvicorn", "python_multipart", "prometheus_client", "httpx"):
        pytest.importorskip(module, reason="needs the [serve] extra: pip install 'affectlens[serve]'")


def wait_ready(client, timeout: float = 120.0, headers=None) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if client.get("/readyz", headers=headers).status_code == 200:
            return
        time.sleep(0.2)
    raise TimeoutError("the service did not load its models in time")


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
