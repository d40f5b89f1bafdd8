"""The web page at ``/`` and its own script and style (shipped in the package; nothing from a CDN)."""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

STATIC = resources.files("affectlens") / "serve" / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


def router(service):
    """``/`` and ``/static/*``, behind the API key like every endpoint but ``/healthz``: with a key,
    open ``/?api_key=KEY`` and the page passes the key on to its own files and requests."""
    from affectlens.serve.errors import ApiError
    from affectlens.serve.guard import dependency

    r = APIRouter(include_in_schema=False, dependencies=[Depends(dependency(service))])

    @r.get("/", response_class=HTMLResponse)
    def index(request: Request):
        html = (STATIC / "index.html").read_text(encoding="utf-8")
        key = request.query_params.get("api_key")
        if key and service.settings.api_key:
            from html import escape
            from urllib.parse import quote

            for name in ("app.css", "app.js"):
                html = html.replace(f"/static/{name}", f"/static/{name}?api_key={escape(quote(key, safe=''))}")
        return HTMLResponse(html)

    @r.get("/openapi.json")
    def openapi(request: Request):
        return JSONResponse(request.app.openapi())

    @r.get("/static/{name}")
    def static(name: str):
        names = {p.name for p in STATIC.iterdir()}
        if name not in names:  # the listed names only: no path is built from the request
            raise ApiError(404, "not_found", f"no static file {name!r}")
        suffix = "." + name.rsplit(".", 1)[-1]
        return Response(
            (STATIC / name).read_bytes(),
            media_type=TYPES.get(suffix, "application/octet-stream"),
            headers={"Cache-Control": "no-cache"},
        )

    return r
