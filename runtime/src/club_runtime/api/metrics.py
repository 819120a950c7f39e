"""Prometheus metrics of the API, declared once. Labels are bounded: the route template (never the raw
path), the method, and the status class."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Histogram
from starlette.routing import Match

REQUESTS = Counter("club_api_requests_total", "HTTP requests served", ["route", "method", "status_class"])
LATENCY = Histogram(
    "club_api_request_duration_seconds",
    "HTTP request latency",
    ["route", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
LOGIN_FAILURES = Counter(
    "club_api_login_failures_total", "Failed logins (wrong password, unknown user, locked)"
)
VIDEOS_ENQUEUED = Counter("club_api_videos_enqueued_total", "Videos queued for processing")

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def route_template(request: Request) -> str:
    for route in request.app.router.routes:
        match, _ = route.matches(request.scope)
        if match == Match.FULL:
            return str(getattr(route, "path", "unmatched"))
    return "unmatched"


async def middleware(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    started = time.perf_counter()
    method = request.method if request.method in _METHODS else "OTHER"
    route = route_template(request)
    status_class = "5xx"
    try:
        response = await call_next(request)
        status_class = f"{response.status_code // 100}xx"
        return response
    finally:
        REQUESTS.labels(route, method, status_class).inc()
        LATENCY.labels(route, method).observe(time.perf_counter() - started)
