"""Each Club's own Redis user, as the operator makes it on the stack's Redis: the Club's Secret logs in
as that user, which reaches the Club's keys and nothing of another Club's; the user records its
owner, a user the operator did not make for the Club is left alone (Conflict), and deleting the
Club removes its user and keys (tests/integration/worker/test_club_redis.py turns a club's login
on another club's keys every way RQ would, and runs real workers)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
import redis
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from club_operator import redis_acl
from club_operator.redis_target import club_prefix
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds


@pytest.fixture
def admin(stack: StackInfo) -> Iterator[redis.Redis]:
    """The operator's own connection (database 0, the default user)."""
    conn = redis.Redis.from_url(stack.redis.url(0))
    yield conn
    conn.close()


def _acl_user(admin: redis.Redis, user: str) -> Any:
    return cast(Any, admin).execute_command("ACL", "GETUSER", user)


def _login(core: k8s.CoreV1Api, namespace: str, name: str) -> tuple[dict[str, str], redis.Redis]:
    secret = clubs.secret_data(core, namespace, f"{name}-redis")
    return secret, redis.Redis.from_url(secret["url"])


def test_each_club_logs_in_as_its_own_user_and_deletion_removes_it_and_its_keys(
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    admin: redis.Redis,
    stack: StackInfo,
    club_operator: RunningOperator,
) -> None:
    for name in ("north-fc", "south-fc"):
        clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": name}, name))
    uids = {
        name: clubs.wait_condition(custom, namespace, name, "Ready", "True", timeout=120)["metadata"]["uid"]
        for name in ("north-fc", "south-fc")
    }
    north, south = club_prefix(namespace, "north-fc"), club_prefix(namespace, "south-fc")
    secret, north_conn = _login(core, namespace, "north-fc")
    _, south_conn = _login(core, namespace, "south-fc")
    assert secret["username"] == north
    assert secret["password"] not in (clubs.secret_data(core, namespace, "south-fc-redis")["password"], "")
    assert (core.read_namespaced_config_map("north-fc-config", namespace).data or {})[
        "RQ_KEY_PREFIX"
    ] == north

    # Each login works on its own keys ...
    assert north_conn.set(f"{north}:lease:video:1", "held")
    assert south_conn.rpush(f"{south}:queue:{namespace}.south-fc.video", "video-1")
    # ... and Redis refuses it everything of the other's.
    for attempt in (
        lambda: north_conn.lrange(f"{south}:queue:{namespace}.south-fc.video", 0, -1),
        lambda: north_conn.rpush(f"{south}:queue:{namespace}.south-fc.video", "video-forged"),
        lambda: north_conn.publish(f"{south}:pubsub:some-worker", "{}"),
        lambda: south_conn.delete(f"{north}:lease:video:1"),
        lambda: north_conn.rpush(f"rq:queue:{namespace}.south-fc.video", "video-forged"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            attempt()

    # The operator reads job status through a login that can read job hashes and nothing else.
    assert north_conn.hset(f"{north}:job:video-1", "status", "queued")
    reader = redis.Redis.from_url(redis_acl.reader_url(stack.redis.url(0)))
    assert reader.hgetall(f"{north}:job:video-1") == {b"status": b"queued"}
    for attempt in (
        lambda: reader.hset(f"{north}:job:video-1", "status", "finished"),
        lambda: reader.lrange(f"{south}:queue:{namespace}.south-fc.video", 0, -1),
        lambda: reader.delete(f"{north}:job:video-1"),
    ):
        with pytest.raises(redis.exceptions.NoPermissionError):
            attempt()

    # The owner is recorded where no Club's user reaches.
    record = json.loads(admin.hget(redis_acl.OWNERS_KEY, north) or "{}")
    assert (record["namespace"], record["name"], record["uid"]) == (namespace, "north-fc", uids["north-fc"])
    with pytest.raises(redis.exceptions.NoPermissionError):
        north_conn.hset(redis_acl.OWNERS_KEY, north, "{}")

    clubs.delete_club(custom, namespace, "north-fc")
    assert _acl_user(admin, north) is None
    assert list(admin.scan_iter(match=f"{north}:*")) == []
    assert admin.hget(redis_acl.OWNERS_KEY, north) is None
    with pytest.raises(redis.exceptions.AuthenticationError):
        redis.Redis.from_url(secret["url"]).ping()
    # The other Club keeps its user and keys.
    assert _acl_user(admin, south) is not None
    assert south_conn.llen(f"{south}:queue:{namespace}.south-fc.video") == 1


def test_a_redis_user_the_operator_did_not_make_for_the_club_is_left_untouched(
    custom: k8s.CustomObjectsApi,
    namespace: str,
    admin: redis.Redis,
    club_operator: RunningOperator,
) -> None:
    user = club_prefix(namespace, "squatted-fc")
    cast(Any, admin).execute_command("ACL", "SETUSER", user, "on", ">not-the-clubs", "~elsewhere:*", "+get")
    try:
        before = _acl_user(admin, user)
        clubs.create_club(
            custom, namespace, crds.manifest("Club", {"displayName": "Squatted"}, "squatted-fc")
        )
        club = clubs.wait_condition(
            custom, namespace, "squatted-fc", "WorkloadsReady", "False", reason="Conflict"
        )
        cond = clubs.condition(club, "WorkloadsReady")
        assert cond is not None
        assert f"Redis user {user} already exists and records no owning Club" in cond["message"]
        ready = clubs.condition(club, "Ready")
        assert ready is not None
        assert ready["reason"] != "InvalidSpec", ready  # a Conflict, not a bad spec
        assert club["status"]["phase"] != "Failed"
        assert _acl_user(admin, user) == before  # not re-passworded, rights unchanged
        clubs.delete_club(custom, namespace, "squatted-fc")
        assert _acl_user(admin, user) == before  # not deleted with a Club that does not own it
    finally:
        cast(Any, admin).execute_command("ACL", "DELUSER", user)
