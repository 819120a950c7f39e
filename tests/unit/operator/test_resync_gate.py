"""The gate between event reconciles and resyncs (resync_gate.py): the order things start in, driven
step by step on an event loop (no clock involved except where patience is zero)."""

from __future__ import annotations

import asyncio
import statistics

import pytest

from club_operator import resync_gate
from club_operator.resync_gate import Gate


async def _settle() -> None:
    """Let every task that can run, run."""
    for _ in range(10):
        await asyncio.sleep(0)


def test_may_start() -> None:
    assert resync_gate.may_start(running=0, slots=2, events=0, waited=0.0, patience=60.0)
    assert not resync_gate.may_start(running=2, slots=2, events=0, waited=100.0, patience=60.0)
    assert not resync_gate.may_start(running=0, slots=2, events=1, waited=10.0, patience=60.0)
    assert resync_gate.may_start(running=0, slots=2, events=1, waited=60.0, patience=60.0)


def test_first_delay_is_within_one_to_two_intervals_fixed_by_uid_and_spread() -> None:
    delays = [resync_gate.first_delay(f"uid-{i}", 30.0) for i in range(1000)]
    assert all(30.0 <= d < 60.0 for d in delays)
    assert resync_gate.first_delay("uid-7", 30.0) == delays[7]
    # Spread over the interval, not bunched: each tenth of it holds some of them.
    tenths = {int((d - 30.0) / 3.0) for d in delays}
    assert tenths == set(range(10))
    assert 40.0 < statistics.mean(delays) < 50.0


def test_an_event_never_waits_for_resync_slots() -> None:
    async def scenario() -> list[str]:
        gate = Gate(slots=1)
        started: list[str] = []
        release = asyncio.Event()

        async def resync(name: str) -> None:
            async with gate.resync():
                started.append(name)
                await release.wait()

        async def event() -> None:
            async with gate.event():
                started.append("event")

        tasks = [asyncio.create_task(resync(f"resync-{i}")) for i in range(3)]
        await _settle()
        assert started == ["resync-0"]
        assert gate.waiting == 2
        await asyncio.create_task(event())  # every slot is taken: it runs all the same
        release.set()
        await asyncio.gather(*tasks)
        return started

    assert asyncio.run(scenario()) == ["resync-0", "event", "resync-1", "resync-2"]


def test_resyncs_wait_while_an_event_is_in_flight_then_start_in_order() -> None:
    async def scenario() -> None:
        gate = Gate(slots=2)
        started: list[str] = []
        event_done = asyncio.Event()

        async def event() -> None:
            async with gate.event():
                started.append("event")
                await event_done.wait()

        async def resync(name: str) -> None:
            async with gate.resync():
                started.append(name)

        editing = asyncio.create_task(event())
        await _settle()
        resyncs = [asyncio.create_task(resync(f"resync-{i}")) for i in range(3)]
        await _settle()
        assert started == ["event"]
        assert gate.waiting == 3
        event_done.set()
        await asyncio.gather(editing, *resyncs)
        assert started == ["event", "resync-0", "resync-1", "resync-2"]
        assert (gate.running, gate.events, gate.waiting) == (0, 0, 0)

    asyncio.run(scenario())


def test_slots_bound_the_resyncs_that_run_at_once() -> None:
    async def scenario() -> int:
        gate = Gate(slots=3)
        most = 0

        async def resync() -> None:
            nonlocal most
            async with gate.resync():
                most = max(most, gate.running)
                await asyncio.sleep(0)

        await asyncio.gather(*(resync() for _ in range(20)))
        return most

    assert asyncio.run(scenario()) == 3


def test_a_patient_resync_starts_beside_events() -> None:
    async def scenario() -> list[str]:
        gate = Gate(slots=1, patience=0.0)
        started: list[str] = []
        event_done = asyncio.Event()

        async def event() -> None:
            async with gate.event():
                await event_done.wait()

        async def resync() -> None:
            async with gate.resync():
                started.append("resync")

        editing = asyncio.create_task(event())
        await _settle()
        await asyncio.wait_for(resync(), timeout=30)  # does not wait for the event to end
        event_done.set()
        await editing
        return started

    assert asyncio.run(scenario()) == ["resync"]


def test_a_cancelled_waiter_gives_its_place_on() -> None:
    async def scenario() -> list[str]:
        gate = Gate(slots=1)
        started: list[str] = []
        release = asyncio.Event()

        async def resync(name: str) -> None:
            async with gate.resync():
                started.append(name)
                await release.wait()

        first = asyncio.create_task(resync("first"))
        await _settle()
        cancelled = asyncio.create_task(resync("cancelled"))
        last = asyncio.create_task(resync("last"))
        await _settle()
        cancelled.cancel()
        await _settle()
        release.set()
        await asyncio.gather(first, last)
        assert cancelled.cancelled()
        assert (gate.running, gate.waiting) == (0, 0)
        return started

    assert asyncio.run(scenario()) == ["first", "last"]


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError, match="at least one"):
        Gate(slots=0)
