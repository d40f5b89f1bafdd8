"""The web page at ``/`` and its own script and style (shipped in the package; nothing from a CDN)."""

from __future__ import annotations

from importlib import resources

STATIC = resources.files("affectlens") / "serve" / "static"
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html", ".svg": "image/svg+xml"}


def router():
    from fastapi import APIRouter
    from fastapi.responses import HTMLResponse, Response

    from affectlens.serve.errors import ApiError

    r = APIRouter(include_in_schema=False)

    @r.get("/", response_class=HTMLResponse)
    def index():
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @r.get("/static/{name}")
    def static(name: str):
        names = {p.name for p in STATIC.iterdir()}
        if name not in names:  # the listed names only: no path is built from the request
            raise ApiError(404, "not_found", f"no static file {name!r}")
        suffix = "." + name.rsplit(".", 1)[-1]
        return Response((STATIC / name).read_bytes(), media_type=TYPES.get(suffix, "application/octet-stream"),
                        headers={"Cache-Control": "no-cache"})

    return r
