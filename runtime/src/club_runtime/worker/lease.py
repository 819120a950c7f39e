"""A video's processing lease: at most one execution of a video's job runs at a time.

RQ re-runs a job whose worker stopped heart-beating. A worker that only *looks* dead (its main
process gone, its work horse still transcoding) would then run alongside the retry; the lease stops
that. It is a Redis lock with a TTL, renewed by a thread while the job runs, so a holder that truly
died frees it within `ttl_sec`. A new execution waits up to one TTL for it, then gives up (and RQ
retries later). The lock's key is under the club's RQ_KEY_PREFIX, like every key of the club's."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

import redis
from redis.exceptions import LockError
from rq.defaults import RQ_KEY_PREFIX

from club_runtime.redis_client import UNAVAILABLE

log = logging.getLogger(__name__)


class LeaseBusyError(RuntimeError):
    """Another execution holds this video's lease."""


class LeaseLostError(RuntimeError):
    """The lease expired while this execution held it: stop before writing more."""


def key(name: str) -> str:
    return f"{RQ_KEY_PREFIX}:lease:{name}"


class Lease:
    def __init__(self, conn: redis.Redis, name: str, *, ttl_sec: int) -> None:
        self._ttl = max(ttl_sec, 2)
        self._lock = conn.lock(key(name), timeout=self._ttl, thread_local=False)
        self._stop = threading.Event()
        self._lost = threading.Event()
        self._renewer = threading.Thread(target=self._renew, name=f"lease-{name}", daemon=True)

    def __enter__(self) -> Lease:
        if not self._lock.acquire(blocking=True, blocking_timeout=self._ttl + 1):
            raise LeaseBusyError("another execution is processing this video")
        self._renewer.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._renewer.join(timeout=5)
        try:
            self._lock.release()
        except LockError:
            log.warning("lease had already expired at release")
        except UNAVAILABLE as problem:
            log.warning("lease not released (Redis: %s); it expires on its own", type(problem).__name__)

    def _renew(self) -> None:
        renewed = time.monotonic()
        while not self._stop.wait(self._ttl / 3):
            try:
                self._lock.extend(self._ttl, replace_ttl=True)
                renewed = time.monotonic()
            except LockError:
                self._lost.set()
                return
            except UNAVAILABLE as exc:
                # Redis unreachable: the lock stays held until its TTL runs out since the last
                # renewal; keep trying until then (a later LockError says it was lost meanwhile).
                if time.monotonic() - renewed >= self._ttl:
                    log.warning("lease not renewed within its TTL (Redis: %s)", type(exc).__name__)
                    self._lost.set()
                    return

    def check(self) -> None:
        """Raise LeaseLostError if the lease ran out; call before each write of outputs."""
        if self._lost.is_set():
            raise LeaseLostError("the processing lease expired; another execution may have started")
