"""The threads a Club's reconciles run on, and the gate between them (resync_gate.py).

A reconcile blocks (the Kubernetes client, psycopg, S3), so it runs on a thread while kopf's event
loop goes on. Event reconciles (a Club created, changed, resumed) have threads of their own, as
many as `max_workers`; resyncs run on `resync_workers` threads, one per gate slot, and only as the
gate lets them. Each runs in a copy of the handler's context, as kopf runs its sync handlers:
posting an Event needs kopf's context."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from club_operator import resync_gate, resync_metrics
from club_operator.config import OperatorSettings

T = TypeVar("T")


@dataclass(frozen=True)
class _Lanes:
    gate: resync_gate.Gate
    events: concurrent.futures.Executor
    resyncs: concurrent.futures.Executor


_made: list[_Lanes] = []


def _lanes(settings: OperatorSettings) -> _Lanes:
    """The gate and both pools, made on first use (one set for the process)."""
    if not _made:
        gate = resync_gate.Gate(settings.resync_workers, patience=settings.resync_interval_sec)
        resync_metrics.follow(gate)
        _made.append(
            _Lanes(
                gate,
                concurrent.futures.ThreadPoolExecutor(settings.max_workers, thread_name_prefix="reconcile"),
                concurrent.futures.ThreadPoolExecutor(settings.resync_workers, thread_name_prefix="resync"),
            )
        )
    return _made[0]


async def on_event(settings: OperatorSettings, fn: Callable[..., T], *args: object) -> T:
    """Run `fn(*args)` as an event reconcile: at once; resyncs wait while it runs."""
    lanes = _lanes(settings)
    async with lanes.gate.event():
        return await _in_thread(lanes.events, fn, *args)


async def on_resync(settings: OperatorSettings, fn: Callable[..., T], *args: object) -> T:
    """Run `fn(*args)` as a resync: once the gate gives it a slot."""
    lanes = _lanes(settings)
    async with lanes.gate.resync():
        resync_metrics.RESYNCS_STARTED.inc()
        return await _in_thread(lanes.resyncs, fn, *args)


async def _in_thread(executor: concurrent.futures.Executor, fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)` on one of `executor`'s threads. Cancelled meanwhile (the operator stopping), it
    still waits for the thread to finish, so that no reconcile is left running unseen."""
    call = functools.partial(contextvars.copy_context().run, fn, *args)
    future = asyncio.get_running_loop().run_in_executor(executor, call)
    cancelled: asyncio.CancelledError | None = None
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        raise cancelled
    return future.result()
