"""The HTTP service (the ``[serve]`` extra): ``create_app(settings)`` builds a FastAPI app that
is a thin adapter over the job layer (:func:`affectlens.run`) and the export writers.

    affectlens serve --port 8000 --data-dir ./affectlens-data

then open http://127.0.0.1:8000/ (the page; the API schema is at /openapi.json).
"""

from __future__ import annotations

from affectlens.serve.settings import Settings

EXTRA_HINT = "pip install 'affectlens[serve]'"


def require_extra() -> None:
    """ImportError in one line naming the extra when fastapi, uvicorn or its friends are missing."""
    import importlib.util

    missing = [
        m
        for m in ("fastapi", "uvicorn", "python_multipart", "prometheus_client")
        if importlib.util.find_spec(m) is None
    ]
    if missing:
        raise ImportError(f"the service needs {', '.join(missing)}: {EXTRA_HINT}")


def create_app(settings: Settings | None = None):
    """The FastAPI app (see :mod:`affectlens.serve.app`)."""
    require_extra()
    from affectlens.serve.app import create_app as _create

    return _create(settings)


__all__ = ["EXTRA_HINT", "Settings", "create_app", "require_extra"]
