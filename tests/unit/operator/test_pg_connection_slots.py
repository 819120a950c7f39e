"""At most pg_connections.AT_ONCE admin connections in use at a time, and a thread that holds one
takes a nested one without waiting (no connection is made here: only the slots are exercised)."""

from __future__ import annotations

import threading

from club_operator import pg_connections


def test_slots_bound_the_threads_and_let_a_holder_nest() -> None:
    holding = threading.Barrier(pg_connections.AT_ONCE + 1)
    release = threading.Event()
    nested: list[bool] = []

    def hold() -> None:
        with pg_connections._slot():
            with pg_connections._slot():  # nested: must not wait for a slot of its own
                nested.append(True)
            holding.wait(timeout=10)
            release.wait(timeout=10)

    threads = [threading.Thread(target=hold) for _ in range(pg_connections.AT_ONCE)]
    for thread in threads:
        thread.start()
    holding.wait(timeout=10)  # every slot is held now
    assert len(nested) == pg_connections.AT_ONCE
    assert not pg_connections._in_use.acquire(blocking=False)
    release.set()
    for thread in threads:
        thread.join(timeout=10)
    assert pg_connections._in_use.acquire(blocking=False)  # all given back
    pg_connections._in_use.release()
