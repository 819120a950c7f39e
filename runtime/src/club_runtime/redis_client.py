"""The runtime's Redis connection: as the club's own Redis user (REDIS_URL), which may touch only the
keys under the club's prefix (RQ_KEY_PREFIX, read by RQ itself) and run only RQ's commands.

That user may not run INFO (it shows server-wide figures). RQ asks INFO for the server's version to
choose commands (LMOVE from 6.2, LPOS from 6.0.6) and, refused, falls back to 5.0.9's, asking again
each time and filling Redis's ACL log with refusals. So the oldest version the operator supports
(6.2: Pub/Sub channel rules) is put where RQ caches the answer on the connection."""

from __future__ import annotations

from typing import Any

from redis import Redis

from club_runtime.settings import Settings

SERVER_VERSION_FLOOR = (6, 2, 0)
_RQ_VERSION_CACHE = "__rq_redis_server_version"  # rq.utils.get_version


def connect(settings: Settings, **options: Any) -> Redis:
    conn = Redis.from_url(settings.redis_url.get_secret_value(), **options)
    setattr(conn, _RQ_VERSION_CACHE, SERVER_VERSION_FLOOR)
    return conn
