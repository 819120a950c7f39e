"""Where a Club's workers find Redis, as the runtime (a URL) and KEDA (address, password, database)
each need it. Pure."""

from __future__ import annotations

import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class RedisTarget:
    url: str
    address: str
    password: str
    database: int


def parse_redis_url(url: str) -> RedisTarget:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError("the Redis URL must look like redis://[:password@]host[:port][/db]")
    path = parts.path.strip("/")
    return RedisTarget(
        url=url,
        address=f"{parts.hostname}:{parts.port or 6379}",
        password=urllib.parse.unquote(parts.password or ""),
        database=int(path) if path.isdigit() else 0,
    )


def queue_name(namespace: str, club: str, pool: str) -> str:
    """Each Club's queues are its own, even when Clubs share one Redis."""
    return f"{namespace}.{club}.{pool}"
