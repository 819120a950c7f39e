"""Who runs first when many Clubs want a reconcile: a Club a person just changed, before the
periodic resyncs of the others.

Every Club has its resync timer (main.py). With a thousand Clubs, a thousand timers fire within
each interval, and a reconcile for an edit that waited in the same queue as they did would wait
behind them all (about 80 s at 1,000 Clubs before this gate). So the two kinds run apart:

- an event reconcile (a Club created, changed or resumed) runs at once, on threads of its own,
  and never waits for a resync;
- a resync takes one of a few slots of its own, and only when no event reconcile is in flight.
  One that has waited `patience` seconds takes a free slot even then, so a steady stream of edits
  cannot hold drift repair off for ever. Waiting resyncs are served in the order they came.

The first resync of each Club is spread over one interval (`first_delay`), so that Clubs created
together do not resync together ever after. Pure scheduling on the event loop: no I/O."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import math
from collections.abc import AsyncIterator
from dataclasses import dataclass


def may_start(*, running: int, slots: int, events: int, waited: float, patience: float) -> bool:
    """Whether a resync that has waited `waited` seconds may start now: a slot is free, and no event
    reconcile is in flight, or it has been patient long enough."""
    return running < slots and (events == 0 or waited >= patience)


def first_delay(uid: str, interval: float) -> float:
    """When a Club's first resync runs, after it is first seen: between one and two intervals, at a
    point fixed by its uid (the same after a restart), spread evenly over many Clubs."""
    fraction = int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big") / 2**64
    return interval * (1.0 + fraction)


@dataclass
class _Waiter:
    since: float
    granted: asyncio.Future[None]


class Gate:
    """Counts the event reconciles in flight and hands the resync slots out (see the module)."""

    def __init__(self, slots: int, patience: float = math.inf) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one resync slot")
        self.slots, self.patience = slots, patience
        self.events = 0
        self.running = 0
        self._queue: collections.deque[_Waiter] = collections.deque()

    @property
    def waiting(self) -> int:
        """Resyncs waiting for a slot."""
        return len(self._queue)

    @contextlib.asynccontextmanager
    async def event(self) -> AsyncIterator[None]:
        """Around an event reconcile: it never waits; while it runs, resyncs do not start."""
        self.events += 1
        try:
            yield
        finally:
            self.events -= 1
            self._hand_out()

    @contextlib.asynccontextmanager
    async def resync(self) -> AsyncIterator[None]:
        """Around a resync: waits for a slot (see the module), holds it until done."""
        await self._admit()
        try:
            yield
        finally:
            self.running -= 1
            self._hand_out()

    async def _admit(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if not self._queue and may_start(
            running=self.running, slots=self.slots, events=self.events, waited=0.0, patience=self.patience
        ):
            self.running += 1
            return
        waiter = _Waiter(now, loop.create_future())
        self._queue.append(waiter)
        try:
            if math.isfinite(self.patience):
                await asyncio.wait([waiter.granted], timeout=self.patience)
                if not waiter.granted.done():
                    self._hand_out()  # patient long enough: a free slot is this one's now
            await asyncio.shield(waiter.granted)
        except asyncio.CancelledError:
            if waiter.granted.done() and not waiter.granted.cancelled():
                self.running -= 1  # granted as it was cancelled: give the slot on
                self._hand_out()
            else:
                waiter.granted.cancel()
                with contextlib.suppress(ValueError):
                    self._queue.remove(waiter)
            raise

    def _hand_out(self) -> None:
        """Give free slots to the waiting resyncs, oldest first, as far as `may_start` allows."""
        if not self._queue:
            return
        now = asyncio.get_running_loop().time()
        while self._queue:
            head = self._queue[0]
            if head.granted.done():  # cancelled while waiting
                self._queue.popleft()
                continue
            if not may_start(
                running=self.running,
                slots=self.slots,
                events=self.events,
                waited=now - head.since,
                patience=self.patience,
            ):
                return
            self._queue.popleft()
            self.running += 1
            head.granted.set_result(None)
