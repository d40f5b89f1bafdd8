"""The API key and the per-client rate, checked on every endpoint but ``/healthz``."""

from __future__ import annotations

import hmac

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader

from affectlens.serve.errors import ApiError


def key_ok(expected: str | None, given: str | None) -> bool:
    return expected is None or (given is not None and hmac.compare_digest(given.encode(), expected.encode()))


def given_key(conn) -> str | None:
    """``X-API-Key``, ``Authorization: Bearer``, or ``?api_key=`` (for EventSource and WebSocket)."""
    key = conn.headers.get("x-api-key")
    auth = conn.headers.get("authorization", "")
    if key is None and auth.lower().startswith("bearer "):
        key = auth[7:].strip()
    return key if key is not None else conn.query_params.get("api_key")


def dependency(service):
    """A FastAPI dependency enforcing the key and the rate (documented as the X-API-Key scheme)."""
    scheme = APIKeyHeader(name="X-API-Key", auto_error=False)

    async def guard(request: Request, _key: str | None = Depends(scheme)) -> None:
        if not key_ok(service.settings.api_key, given_key(request)):
            raise ApiError(
                401,
                "unauthorized",
                "missing or wrong API key (send it as X-API-Key, or open /?api_key=KEY)",
                {"WWW-Authenticate": "X-API-Key"},
            )
        client = request.client.host if request.client else "unknown"
        wait = service.rates.take(client)
        if wait:
            raise ApiError(
                429,
                "rate_limited",
                f"more than {service.settings.rate_per_minute} requests per minute from {client}",
                {"Retry-After": f"{max(1, round(wait))}"},
            )

    return guard
