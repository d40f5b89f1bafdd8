"""The app factory: ``create_app(settings)`` builds the FastAPI app (tests build it in-process;
``affectlens serve`` runs it with uvicorn). Models load in the background at start-up and
``/readyz`` says when they are ready; jobs found running by a restarted server are marked failed.
"""

from __future__ import annotations

import time
from contextlib import asynccontextmanager

from affectlens.serve import errors
from affectlens.serve.service import Service
from affectlens.serve.settings import Settings

TITLE = "affectlens"
DESCRIPTION = (
    "Offline emotion recognition over HTTP: perceived facial expressions in photos and videos, "
    "voice and text, and their fusion. The outputs are perceived expressions, not inner feelings."
)


def create_app(settings: Settings | None = None):
    """The service's ASGI app over ``settings`` (data folder, limits, API key)."""
    from fastapi import FastAPI

    from affectlens import __version__
    from affectlens.serve import jobroutes, live, metrics, page, routes

    settings = settings or Settings()
    service = Service(settings)

    @asynccontextmanager
    async def lifespan(app):
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title=TITLE,
        description=DESCRIPTION,
        version=__version__,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,  # /openapi.json: page.py, behind the key
        responses={k: {"model": _error_model(), "description": d} for k, d in _ERRORS.items()},
    )
    app.state.service = service
    errors.install(app)
    app.include_router(routes.router(service))
    app.include_router(jobroutes.router(service))
    app.include_router(live.router(service))
    app.include_router(page.router(service))
    metrics.install(app, service)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["*"], allow_headers=["*"]
        )
    app.state.started = time.time()
    return app


_ERRORS = {
    400: "Malformed request",
    401: "Missing or wrong API key",
    413: "Too large",
    415: "Unsupported media type",
    422: "Invalid input or options",
    429: "Too many requests",
    503: "Not ready, busy or timed out",
}


def _error_model():
    from affectlens.serve.schemas import ErrorBody

    return ErrorBody
