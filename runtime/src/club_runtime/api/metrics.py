"""Prometheus metrics of the API, declared once. Labels are bounded: the route template (never the raw
path), the method, and the status class."""

from __future__ import annotations

import time

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

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
PASSWORD_VERIFICATIONS = Counter(
    "club_api_password_verifications_total",
    "argon2 verifications run by logins: one per attempt, whether the account is unknown, locked or not",
)
REFRESH_REUSE = Counter(
    "club_api_refresh_reuse_total", "Refresh tokens presented again after use (their family is revoked)"
)
VIDEOS_ENQUEUED = Counter("club_api_videos_enqueued_total", "Videos queued for processing")

_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})


def route_template(scope: Scope) -> str:
    """The template of the route the router chose (`/api/v1/players/{player_id}`), read from the scope
    once the request has been handled; `unmatched` when no route took it."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class Middleware:
    """Counts and times every HTTP request. A plain ASGI middleware: starlette's `BaseHTTPMiddleware`
    runs each request in a task group with memory streams, which cost more than the rest of a small
    request's handling."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"] if scope["method"] in _METHODS else "OTHER"
        status_class = "5xx"

        async def send_counted(message: Message) -> None:
            nonlocal status_class
            if message["type"] == "http.response.start":
                status_class = f"{message['status'] // 100}xx"
            await send(message)

        try:
            await self.app(scope, receive, send_counted)
        finally:
            route = route_template(scope)
            REQUESTS.labels(route, method, status_class).inc()
            LATENCY.labels(route, method).observe(time.perf_counter() - started)
