"""``/metrics`` in the Prometheus text format: requests, latency, jobs by state, queue length,
live sockets. One registry per app (tests build several apps in one process)."""

from __future__ import annotations

import time


def install(app, service) -> None:
    from fastapi import Depends
    from fastapi.responses import PlainTextResponse
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    from affectlens.serve.guard import dependency

    registry = CollectorRegistry()
    requests = Counter(
        "affectlens_requests", "HTTP requests by route and status", ["method", "route", "status"], registry=registry
    )
    latency = Histogram(
        "affectlens_request_seconds",
        "HTTP request latency by route",
        ["route"],
        registry=registry,
        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    )

    class Jobs:
        def collect(self):
            counts = service.store.counts()
            jobs = GaugeMetricFamily("affectlens_jobs", "Jobs by state", labels=["state"])
            for state, n in counts.items():
                jobs.add_metric([state], n)
            yield jobs
            yield GaugeMetricFamily("affectlens_queue_length", "Jobs waiting to run", value=counts["queued"])
            yield GaugeMetricFamily("affectlens_live_sockets", "Open /v1/live sockets", value=service.live_sockets)
            yield GaugeMetricFamily(
                "affectlens_models_ready", "1 once the models are loaded", value=1 if service.ready.is_set() else 0
            )

    registry.register(Jobs())

    class Measure:
        """Pure ASGI middleware: count and time each HTTP request by its route template."""

        def __init__(self, inner):
            self.inner = inner

        async def __call__(self, scope, receive, send):
            if scope["type"] != "http":
                return await self.inner(scope, receive, send)
            start, code = time.perf_counter(), [500]

            async def sending(message):
                if message["type"] == "http.response.start":
                    code[0] = message["status"]
                await send(message)

            try:
                await self.inner(scope, receive, sending)
            finally:
                route = getattr(scope.get("route"), "path", "unmatched")
                requests.labels(scope["method"], route, str(code[0])).inc()
                latency.labels(route).observe(time.perf_counter() - start)

    app.add_middleware(Measure)

    @app.get("/metrics", response_class=PlainTextResponse, tags=["health"], dependencies=[Depends(dependency(service))])
    def metrics():
        """Prometheus text format."""
        return PlainTextResponse(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
