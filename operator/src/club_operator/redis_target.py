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


# The video pool's queues. RQ's worker takes from the first non-empty queue in the order it was
# given, so a priority is a queue of its own: `<video>.high`, `<video>` (normal: where the API's
# uploads go), `<video>.low`. Jobs that must have a GPU go to `<video>.gpu`, which only GPU workers
# listen on (first, since nothing else can take those jobs); high ones go to its front.
HIGH, LOW, GPU = "high", "low", "gpu"


def video_queues(video_queue: str, *, gpu_workers: bool) -> tuple[str, ...]:
    """The queues the video workers listen on, in the order they take jobs from them."""
    by_priority = (f"{video_queue}.{HIGH}", video_queue, f"{video_queue}.{LOW}")
    return (f"{video_queue}.{GPU}", *by_priority) if gpu_workers else by_priority


def video_queue_for(video_queue: str, *, priority: str, gpu_required: bool) -> tuple[str, bool]:
    """Where a video job goes: (queue, whether at the front of it)."""
    if gpu_required:
        return f"{video_queue}.{GPU}", priority == HIGH
    if priority in (HIGH, LOW):
        return f"{video_queue}.{priority}", False
    return video_queue, False
