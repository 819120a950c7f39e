"""The FastAPI application of one club: `create_app(settings)`.

The lifespan opens the pool of the club role, Redis and the bucket, and makes sure the bootstrap
owner account exists (from the secret the operator provides)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import psycopg
from fastapi import Depends, FastAPI

from club_runtime import redis_client, storage
from club_runtime.api import deps, errors, fast_lists, metrics
from club_runtime.api.deps import Services
from club_runtime.api.routes import (
    auth,
    gdpr,
    health,
    injuries,
    load,
    matches,
    playback,
    players,
    teams,
    training,
    users,
    video_uploads,
    videos,
)
from club_runtime.core import security
from club_runtime.db import pool as db_pool
from club_runtime.settings import Settings, get_settings

log = logging.getLogger(__name__)

_ROUTERS = (
    health,
    auth,
    users,
    teams,
    players,
    gdpr,
    training,
    matches,
    injuries,
    load,
    videos,
    video_uploads,
    playback,
)


async def ensure_bootstrap_owner(services: Services) -> None:
    """Create the owner account named by BOOTSTRAP_OWNER_EMAIL when no account has that email."""
    settings = services.settings
    password = settings.bootstrap_owner_password.get_secret_value()
    if not settings.bootstrap_owner_email or not password:
        return
    password_hash = await asyncio.to_thread(security.hash_password, password)
    async with services.pool.connection() as conn:
        await conn.execute(
            "INSERT INTO public.users (email, full_name, password_hash, role) "
            "VALUES (%s, 'Owner', %s, 'owner') "
            "ON CONFLICT (club_id, email) DO NOTHING",
            [settings.bootstrap_owner_email.lower(), password_hash],
        )


def build_services(settings: Settings) -> Services:
    return Services(
        settings=settings,
        pool=db_pool.create_pool(
            settings.database_url.get_secret_value(),
            min_size=settings.database_pool_min,
            max_size=settings.database_pool_max,
        ),
        keys=security.KeySet.parse(settings.jwt_keys.get_secret_value()),
        redis=redis_client.connect(settings, socket_timeout=5),
        bucket=storage.connect(settings),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    services = build_services(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await services.pool.open(wait=False)
        try:
            await ensure_bootstrap_owner(services)
        except psycopg.Error as exc:
            log.warning("bootstrap owner not ensured yet: %s", exc.__class__.__name__)
        yield
        await services.pool.close()
        services.redis.close()

    app = FastAPI(
        title="Football Club Platform",
        version="1",
        docs_url="/docs",
        lifespan=lifespan,
    )
    app.state.services = services
    errors.install(app)
    # Inside the metrics (added later, they wrap it): its answers are counted like the routes'.
    app.add_middleware(fast_lists.Middleware, services=services)
    app.add_middleware(metrics.Middleware)
    for module in _ROUTERS:
        app.include_router(
            module.router,
            dependencies=[Depends(deps.known_query_only)],
            responses={422: errors.COMMON_RESPONSES[422]},
        )
    return app
