"""Liveness, readiness and Prometheus metrics: the only routes without authentication."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import psycopg
from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.exceptions import RedisError

from club_runtime import storage
from club_runtime.api import state_metrics
from club_runtime.api.deps import ServicesDep
from club_runtime.db import migrate

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "A dependency is not ready"}})
async def readyz(services: ServicesDep) -> JSONResponse:
    """Ready when the database answers with the schema at head, Redis answers and the bucket exists."""
    checks: dict[str, Any] = {}
    try:
        async with services.pool.connection(timeout=5) as conn:
            cur = await conn.execute("SELECT version_num FROM public.alembic_version")
            versions = {row["version_num"] for row in await cur.fetchall()}
        checks["database"] = "ok"
        checks["migrations"] = "ok" if versions == migrate.head_revisions() else "behind"
    except (psycopg.Error, TimeoutError) as exc:
        checks["database"] = f"error: {exc.__class__.__name__}"
        checks["migrations"] = "unknown"
    try:
        await asyncio.to_thread(services.redis.ping)
        checks["redis"] = "ok"
    except RedisError as exc:
        checks["redis"] = f"error: {exc.__class__.__name__}"
    try:
        await asyncio.to_thread(storage.check, services.bucket)
        checks["s3"] = "ok"
    except storage.StorageError as exc:
        checks["s3"] = f"error: {exc}"
    ready = all(value == "ok" for value in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks}, status_code=200 if ready else 503
    )


@router.get("/metrics", response_class=Response, responses={200: {"content": {"text/plain": {}}}})
async def metrics_endpoint(services: ServicesDep) -> Response:
    body = generate_latest()
    settings = services.settings
    queues = state_metrics.queue_names(settings.queue_default, settings.queue_video)
    try:
        body += await asyncio.to_thread(
            state_metrics.exposition, services.redis, queues, services.pool.get_stats()
        )
    except RedisError as exc:
        # The queues' series go missing (ClubMetricsTargetDown does not fire: the API answers);
        # the API's own series still serve.
        log.warning("queue metrics not read: %s", exc.__class__.__name__)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
