"""What the routes share: the settings, the job store and workers, the loaded models, the
per-client rate limiter and the bounded thread pool of synchronous analyses."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor

from affectlens.jobs.run import Runner
from affectlens.options import Options
from affectlens.serve.errors import ApiError
from affectlens.serve.settings import Settings
from affectlens.serve.store import JobStore
from affectlens.serve.worker import Workers

log = logging.getLogger("affectlens")


class Service:
    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = JobStore(settings.data_dir)
        self.tmp = settings.data_dir / "tmp"
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.workers = Workers(self.store, settings.workers)
        self.pool = ThreadPoolExecutor(settings.sync_concurrency, thread_name_prefix="affectlens-sync")
        self.pending = 0
        self.ready = threading.Event()
        self.load_error: str | None = None
        self.loaded: list[str] = []
        self.rates = RateLimiter(settings.rate_per_minute)
        self.live_sockets = 0
        self._runners: OrderedDict[str, Runner] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- life -------------------------------------------------------------------------------------
    def start(self) -> None:
        for tmp in self.tmp.iterdir():
            tmp.unlink(missing_ok=True)
        failed = self.store.recover()
        if failed:
            log.warning("marked %d job(s) left running by a stopped server as failed", len(failed))
        self.sweep()
        self.workers.start()
        threading.Thread(target=self._load, name="affectlens-load", daemon=True).start()
        threading.Thread(target=self._sweeper, name="affectlens-sweep", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self.workers.stop()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def _load(self) -> None:
        """Load the default models once (``/readyz`` is true after)."""
        try:
            runner = self.runner(self.settings.options)
            if self.settings.load_models:
                self.loaded.append(f"face: {runner.image_analyzer.model.cfg.name}")
                self.loaded.append(f"text: {type(runner.text_model).__name__}")
                self.loaded.append(f"speech: {type(runner.speech).__name__}")
            self.ready.set()
            log.info("models loaded: %s", ", ".join(self.loaded))
        except Exception as exc:  # noqa: BLE001 - reported by /readyz
            self.load_error = f"{type(exc).__name__}: {exc}"
            log.error("error: models failed to load: %s", self.load_error)

    def sweep(self) -> None:
        gone = self.store.expire(self.settings.retention_hours * 3600.0)
        if gone:
            log.info("removed %d job(s) older than %g h", len(gone), self.settings.retention_hours)

    def _sweeper(self) -> None:
        while not self._stop.wait(self.settings.sweep_every_s):
            self.sweep()

    # -- models -----------------------------------------------------------------------------------
    def runner(self, options: Options) -> Runner:
        """One Runner per options tree (the models themselves are shared by the pipeline's caches)."""
        key = json.dumps(options.to_dict(), sort_keys=True)
        with self._lock:
            if key in self._runners:
                self._runners.move_to_end(key)
                return self._runners[key]
            runner = self._runners[key] = Runner(options)
            while len(self._runners) > 8:
                self._runners.popitem(last=False)
            return runner

    def require_ready(self) -> None:
        if not self.ready.is_set():
            why = f"models failed to load: {self.load_error}" if self.load_error else "models are still loading"
            raise ApiError(503, "not_ready", why, {"Retry-After": "5"})

    async def call(self, fn, *args):
        """Run ``fn`` in the bounded pool, within the request timeout; 503 when busy or slow."""
        self.require_ready()
        s = self.settings
        if self.pending >= s.sync_concurrency + s.sync_queue:
            raise ApiError(503, "busy", f"{self.pending} analyses waiting; try again shortly", {"Retry-After": "1"})
        self.pending += 1
        try:
            future = asyncio.get_running_loop().run_in_executor(self.pool, fn, *args)
            return await asyncio.wait_for(future, timeout=s.request_timeout_s)
        except TimeoutError:
            raise ApiError(503, "timeout", f"analysis took longer than {s.request_timeout_s:g} s") from None
        finally:
            self.pending -= 1


class RateLimiter:
    """A token bucket per client address: ``per_minute`` requests, refilled continuously."""

    def __init__(self, per_minute: int):
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, client: str) -> float:
        """0 when allowed; else the seconds until the next request would be."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self.buckets.get(client, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - last) * self.rate)
            if tokens < 1:
                self.buckets[client] = (tokens, now)
                return (1 - tokens) / self.rate
            self.buckets[client] = (tokens - 1, now)
            if len(self.buckets) > 10000:
                self.buckets.clear()
            return 0.0


def parse_options(text: str | None, base: Options) -> Options:
    """A client's options tree (JSON object) over the service's defaults; 422 naming the problem.
    A transcript path is refused: a transcript is uploaded with the job, never read from the server."""
    if not text:
        return base
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(422, "invalid", f"options: not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", "options: expected a JSON object (the options tree)")
    if (data.get("text") or {}).get("transcript") if isinstance(data.get("text"), dict) else False:
        raise ApiError(
            422,
            "invalid",
            "options: text.transcript cannot name a server path; upload the "
            "transcript as the 'transcript' file of the job",
        )
    try:
        merged = _merge(base.to_dict(), data)
        return Options.from_dict(merged)
    except (TypeError, ValueError) as exc:
        raise ApiError(422, "invalid", f"options: {exc}") from None


def _merge(base: dict, over: dict) -> dict:
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out
