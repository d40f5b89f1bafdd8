"""The service's settings: where it keeps jobs, its limits and its key. Frozen, validated once."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from affectlens.options import Options

MB = 1024 * 1024


@dataclass(frozen=True)
class Settings:
    """Everything ``affectlens serve`` can be told; the defaults suit one user on a laptop.

    Limits: ``max_upload_mb`` (a request body; checked against Content-Length before reading,
    and while reading), ``max_pixels`` (one image, read from its header before decoding),
    ``max_video_s`` (a video or audio job's duration), ``max_zip_mb`` / ``max_zip_files``
    (an image batch, uncompressed), ``max_queue`` (jobs queued or running), ``rate_per_minute``
    (requests per client address), ``sync_concurrency`` / ``sync_queue`` (synchronous analyses
    running / waiting; more: 503), ``request_timeout_s`` (reading a body; a synchronous
    analysis), ``live_sockets`` (open webcam sockets). ``retention_hours``: finished jobs older
    than this are removed. ``api_key``: required by every endpoint but ``/healthz`` (and the
    page's static files, which hold no data).
    """

    data_dir: Path = Path("affectlens-data")
    workers: int = 1
    api_key: str | None = None
    options: Options = field(default_factory=Options)
    max_upload_mb: float = 200.0
    max_pixels: int = 40_000_000
    max_video_s: float = 600.0
    max_zip_mb: float = 500.0
    max_zip_files: int = 2000
    max_queue: int = 16
    rate_per_minute: int = 600
    request_timeout_s: float = 60.0
    sync_concurrency: int = 4
    sync_queue: int = 64
    live_sockets: int = 4
    retention_hours: float = 24.0 * 7
    sweep_every_s: float = 300.0
    cors_origins: tuple[str, ...] = ()
    load_models: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "data_dir", Path(self.data_dir))
        checks = {
            "workers": self.workers >= 1,
            "max_upload_mb": self.max_upload_mb > 0,
            "max_pixels": self.max_pixels > 0,
            "max_video_s": self.max_video_s > 0,
            "max_zip_mb": self.max_zip_mb > 0,
            "max_zip_files": self.max_zip_files >= 1,
            "max_queue": self.max_queue >= 1,
            "rate_per_minute": self.rate_per_minute >= 1,
            "request_timeout_s": self.request_timeout_s > 0,
            "sync_concurrency": self.sync_concurrency >= 1,
            "sync_queue": self.sync_queue >= 1,
            "live_sockets": self.live_sockets >= 1,
            "retention_hours": self.retention_hours > 0,
            "sweep_every_s": self.sweep_every_s > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(
                f"invalid serve setting(s) {', '.join(bad)}: " + ", ".join(f"{k}={getattr(self, k)}" for k in bad)
            )
        if self.api_key is not None and not self.api_key.strip():
            raise ValueError("--api-key must not be empty")

    @property
    def max_upload_bytes(self) -> int:
        return int(self.max_upload_mb * MB)
