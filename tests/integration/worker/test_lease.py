"""The per-video lease on real Redis: held while renewed, freed by release or by its holder's death."""

from __future__ import annotations

import pytest
import redis

from club_runtime.worker.lease import Lease, LeaseBusyError, key


def test_a_renewed_lease_outlives_its_ttl_and_keeps_others_out(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    with Lease(conn, "video:a", ttl_sec=2) as held:
        # The contender waits ttl + 1 s: longer than the TTL, so only renewal can keep it out.
        with pytest.raises(LeaseBusyError), Lease(conn, "video:a", ttl_sec=2):
            pass
        held.check()
    with Lease(conn, "video:a", ttl_sec=2):
        pass


def test_a_dead_holders_lease_frees_itself(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    # A holder that died: it took the lock and never renews or releases it.
    assert conn.lock(key("video:b"), timeout=2).acquire()
    with Lease(conn, "video:b", ttl_sec=2) as lease:
        lease.check()
