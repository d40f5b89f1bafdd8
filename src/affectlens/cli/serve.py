"""``affectlens serve``: the HTTP service and web page (the ``[serve]`` extra) run by uvicorn."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

log = logging.getLogger("affectlens")


def serve(
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    data_dir: Annotated[Path, Parameter(name="--data-dir")] = Path("affectlens-data"),
    workers: int = 1,
    api_key: Annotated[str | None, Parameter(name="--api-key")] = None,
    max_upload_mb: float = 200.0,
    max_pixels: int = 40_000_000,
    max_video_s: float = 600.0,
    max_queue: int = 16,
    rate_per_minute: int = 600,
    request_timeout_s: float = 60.0,
    retention_hours: float = 168.0,
    cors_origin: Annotated[list[str] | None, Parameter(name="--cors-origin")] = None,
    verbose: Annotated[bool, Parameter(name=["--verbose", "-v"], negative="")] = False,
) -> int:
    """Serve the HTTP API and the web page; open http://HOST:PORT/ in a browser.

    Examples:

        affectlens serve
        affectlens serve --port 8080 --data-dir /srv/affectlens --workers 2 --api-key "$KEY"

    Parameters
    ----------
    host
        Address to bind (default: loopback only).
    port
        TCP port.
    data_dir
        Folder for the job database, uploads and results.
    workers
        Jobs that run at the same time.
    api_key
        Require this key (header X-API-Key) on every endpoint but /healthz.
    max_upload_mb
        Largest request body, in MB.
    max_pixels
        Largest image, in pixels (larger: refused as a possible decompression bomb).
    max_video_s
        Longest video or audio job, in seconds.
    max_queue
        Most jobs queued or running at once.
    rate_per_minute
        Most requests per minute from one client address.
    request_timeout_s
        Seconds to receive a body, and for one synchronous analysis.
    retention_hours
        Remove finished jobs after this many hours.
    cors_origin
        Allow this browser origin (repeatable; default: CORS off).
    """
    from affectlens.serve import Settings, require_extra

    require_extra()
    import uvicorn

    from affectlens.serve import create_app

    settings = Settings(
        data_dir=data_dir,
        workers=workers,
        api_key=api_key,
        max_upload_mb=max_upload_mb,
        max_pixels=max_pixels,
        max_video_s=max_video_s,
        max_queue=max_queue,
        rate_per_minute=rate_per_minute,
        request_timeout_s=request_timeout_s,
        retention_hours=retention_hours,
        cors_origins=tuple(cors_origin or ()),
    )
    log.info("serving on http://%s:%d/ (data in %s)", host, port, data_dir)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="debug" if verbose else "warning",
        timeout_keep_alive=5,
        timeout_graceful_shutdown=5,
    )
    return 0
