"""Admin connections to PostgreSQL kept open between reconciles.

A resync reads a few facts as the admin (does the database exist, is its schema at head, is the
canary there) on every Club. A new connection for each costs the server a backend process and an
authentication, which at 200 Clubs was as much CPU as the API server used: reads reuse idle
connections instead. No background thread: a connection idle for too long is closed when next
found, one that fails a liveness check is dropped, and at most a few are kept per database.

At most AT_ONCE admin connections are in use at a time, whatever the number of reconciles in
flight: each holds a server backend and client buffers, and a few are enough to keep the server
busy. A thread that holds one may take another (a nested read) without waiting, so that threads
never wait on each other in a circle."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg import pq

IDLE_PER_DSN = 4
AT_ONCE = 8
IDLE_TOTAL = 16  # dedicated databases are one per Club: keep the server's connection slots free
MAX_IDLE_SEC = 60.0

_lock = threading.Lock()
_in_use = threading.BoundedSemaphore(AT_ONCE)
_held = threading.local()  # how many this thread has open
_idle: defaultdict[str, list[tuple[float, psycopg.Connection[Any]]]] = defaultdict(list)


def _take(dsn: str) -> psycopg.Connection[Any] | None:
    now = time.monotonic()
    while True:
        with _lock:
            if not _idle[dsn]:
                return None
            since, conn = _idle[dsn].pop()
        if now - since > MAX_IDLE_SEC:
            conn.close()
            continue
        try:
            conn.execute("SELECT 1")  # the server may have restarted meanwhile
        except psycopg.Error:
            conn.close()
            continue
        return conn


def _give_back(dsn: str, conn: psycopg.Connection[Any]) -> None:
    evicted: psycopg.Connection[Any] | None = conn
    with _lock:
        if len(_idle[dsn]) < IDLE_PER_DSN:
            _idle[dsn].append((time.monotonic(), conn))
            evicted = None
            if sum(len(idle) for idle in _idle.values()) > IDLE_TOTAL:
                oldest = min((idle[0][0], key) for key, idle in _idle.items() if idle)[1]
                evicted = _idle[oldest].pop(0)[1]
    if evicted is not None:
        evicted.close()


@contextlib.contextmanager
def admin(dsn: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit connection for `dsn`, reused when one is idle. Use `conn.transaction()` for
    statements that must commit together. A connection that raised is closed, not kept."""
    with _slot():
        conn = _take(dsn) or psycopg.connect(dsn, autocommit=True)
        try:
            yield conn
        except BaseException:
            conn.close()
            raise
        if conn.closed or conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.close()
        else:
            _give_back(dsn, conn)


@contextlib.contextmanager
def _slot() -> Iterator[None]:
    """One of the AT_ONCE slots, or none for a thread that holds one already."""
    depth = getattr(_held, "depth", 0)
    if depth == 0:
        _in_use.acquire()
    _held.depth = depth + 1
    try:
        yield
    finally:
        _held.depth = depth
        if depth == 0:
            _in_use.release()


def close_all() -> None:
    """Close every idle connection (tests, and before a server's databases are dropped)."""
    with _lock:
        conns = [conn for idle in _idle.values() for _, conn in idle]
        _idle.clear()
    for conn in conns:
        conn.close()
