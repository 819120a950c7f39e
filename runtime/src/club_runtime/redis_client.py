"""The runtime's Redis connection: as the club's own Redis user (REDIS_URL), which may touch only the
keys under the club's prefix (RQ_KEY_PREFIX, read by RQ itself) and run only RQ's commands.

That user may not run INFO (it shows server-wide figures). RQ asks INFO for the server's version to
choose commands (LMOVE from 6.2, LPOS from 6.0.6) and, refused, falls back to 5.0.9's, asking again
each time and filling Redis's ACL log with refusals. So the oldest version the operator supports
(6.2: Pub/Sub channel rules) is put where RQ caches the answer on the connection."""

from __future__ import annotations

import logging
import signal
import sys
import time
from typing import Any, NoReturn

from redis import Redis
from redis import exceptions as redis_errors

from club_runtime.settings import Settings

log = logging.getLogger(__name__)

SERVER_VERSION_FLOOR = (6, 2, 0)
_RQ_VERSION_CACHE = "__rq_redis_server_version"  # rq.utils.get_version

# Redis is down, restarting, or (just restarted, before the operator made the club's user again)
# refuses the club's login: an outage to wait out, not a bug (AuthenticationError is a ConnectionError).
UNAVAILABLE = (redis_errors.ConnectionError, redis_errors.TimeoutError)


def connect(settings: Settings, **options: Any) -> Redis:
    conn = Redis.from_url(settings.redis_url.get_secret_value(), **options)
    setattr(conn, _RQ_VERSION_CACHE, SERVER_VERSION_FLOOR)
    return conn


def _exit_on_sigterm(signum: int, frame: object) -> NoReturn:
    sys.exit(0)


def wait_until_reachable(conn: Redis, *, max_wait_sec: float = 10.0) -> None:
    """Block until Redis answers a PING as the club's user, backing off up to `max_wait_sec`.

    The process may be PID 1 of its container, where SIGTERM without a handler is ignored: the
    wait exits on SIGTERM, so a pod stopped during an outage does not wait for its SIGKILL."""
    previous = signal.signal(signal.SIGTERM, _exit_on_sigterm)
    try:
        delay = 0.5
        while True:
            try:
                conn.ping()
                return
            except UNAVAILABLE as exc:
                log.warning("Redis is unreachable (%s); retrying in %.1f s", type(exc).__name__, delay)
                time.sleep(delay)
                delay = min(delay * 2, max_wait_sec)
    finally:
        signal.signal(signal.SIGTERM, previous)
