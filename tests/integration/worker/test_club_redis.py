"""Clubs apart in one Redis, held apart by Redis itself: each club logs in as the user the operator
makes for it (club_operator.redis_acl), and a real `club-runtime worker` runs only registered jobs.

Club A's credentials are turned on club B's keys the ways the issue names (read, write, enqueue,
stop, lease, and a whole worker pointed at B's queues): Redis answers NOPERM every time, and B's
data is as it was. A positive control first shows A's credentials do work on A's own keys."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import redis
from rq import Callback, Queue, Retry
from rq.serializers import JSONSerializer

from club_operator import redis_acl, video_queue
from club_operator.redis_target import parse_redis_url, with_database, with_user
from club_runtime import contract
from tests.integration.worker.harness import WorkerBed, run_burst_worker


@dataclass(frozen=True)
class RedisClub:
    """A club's Redis login, as its Secret holds it, and its key prefix."""

    url: str
    prefix: str

    def conn(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def queues(self, prefix: str | None = None) -> video_queue.ClubQueues:
        """The operator's view of a club's jobs (`prefix`'s), through this club's login."""
        return video_queue.ClubQueues(self.url, prefix or self.prefix)


def _provision(admin_url: str, namespace: str, name: str) -> RedisClub:
    password = uuid.uuid4().hex
    database = parse_redis_url(admin_url).database
    user = redis_acl.ClubUser(namespace, name, str(uuid.uuid4()), password, database)
    assert redis_acl.ensure_user(admin_url, user)
    return RedisClub(with_user(admin_url, user.prefix, password), user.prefix)


@pytest.fixture
def two_clubs(redis_url: str) -> Iterator[tuple[RedisClub, RedisClub]]:
    namespace = f"redis-{uuid.uuid4().hex[:8]}"
    made = (_provision(redis_url, namespace, "alpha-fc"), _provision(redis_url, namespace, "beta-fc"))
    yield made
    for club in made:
        redis_acl.delete_user(redis_url, *_owner(redis_url, club.prefix))


def _enqueue_video(club: RedisClub, prefix: str, job_id: str) -> bool:
    kwargs = {"club_id": "c", "video_id": job_id, "source": {"key": "k", "title": "t"}}
    return video_queue.enqueue(club.queues(prefix), "video", job_id, kwargs, at_front=False)


def test_club_a_can_use_its_own_keys_and_nothing_of_club_bs(
    two_clubs: tuple[RedisClub, RedisClub], redis_url: str
) -> None:
    a, b = two_clubs
    admin = redis.Redis.from_url(redis_url)
    # Club B's state: a queued job, a running job's worker channel, a held lease.
    assert _enqueue_video(b, b.prefix, "video-b1")
    b_conn = b.conn()
    assert b_conn.lock(f"{b.prefix}:lease:video:b1", timeout=60).acquire(blocking=False)
    before = {key: admin.dump(key) for key in admin.scan_iter(match=f"{b.prefix}:*")}
    assert before

    # Positive control: A's login works on A's keys, through the same code paths.
    assert _enqueue_video(a, a.prefix, "video-a1")
    a_conn = a.conn()
    assert a_conn.hget(f"{a.prefix}:job:video-a1", "status") == b"queued"
    assert a_conn.lock(f"{a.prefix}:lease:video:a1", timeout=60).acquire(blocking=False)

    # The same calls on B's keys with A's login: Redis refuses each one.
    attempts: dict[str, Any] = {
        "read B's job hash": lambda: a_conn.hgetall(f"{b.prefix}:job:video-b1"),
        "list B's queue": lambda: a_conn.lrange(f"{b.prefix}:queue:video", 0, -1),
        "fake B's job status": lambda: a_conn.hset(f"{b.prefix}:job:video-b1", "status", "finished"),
        "enqueue on B's queue": lambda: _enqueue_video(a, b.prefix, "video-forged"),
        "push onto B's queue": lambda: a_conn.rpush(f"{b.prefix}:queue:video", "video-forged"),
        "stop B's job (cancel)": lambda: video_queue.stop(a.queues(b.prefix), "video-b1"),
        "stop B's worker's job": lambda: a_conn.publish(
            f"{b.prefix}:pubsub:worker-1", '{"command": "stop-job"}'
        ),
        "delete B's job": lambda: video_queue.forget(a.queues(b.prefix), "video-b1"),
        "take B's lease": lambda: a_conn.lock(f"{b.prefix}:lease:video:b2", timeout=60).acquire(
            blocking=False
        ),
        "free B's lease": lambda: a_conn.delete(f"{b.prefix}:lease:video:b1"),
        "use RQ's unprefixed keys": lambda: a_conn.rpush("rq:queue:video", "video-forged"),
        "list every key": lambda: a_conn.keys("*"),
        "scan every key": lambda: a_conn.scan(0),
        "flush the database": a_conn.flushdb,
        "read the owners record": lambda: a_conn.hgetall(redis_acl.OWNERS_KEY),
        "rewrite its own rights": lambda: a_conn.acl_setuser(a.prefix, keys=["*"]),
        "read server figures": a_conn.info,
        "listen to B's stop commands": lambda: cast(Any, a.conn()).execute_command(
            "SUBSCRIBE", f"{b.prefix}:pubsub:worker-1"
        ),
    }
    allowed = []
    for what, attempt in attempts.items():
        refused: BaseException | None = None
        try:
            attempt()
        except video_queue.QueueError as exc:
            refused = exc.__cause__
        except redis.exceptions.RedisError as exc:
            refused = exc
        if not isinstance(refused, redis.exceptions.NoPermissionError):
            allowed.append(f"{what}: {refused!r}")
    assert allowed == []
    # A Lua script runs as its caller: the keys it touches are checked like a command's.
    script = a_conn.script_load(f"return redis.call('GET', '{b.prefix}:job:video-b1')")
    with pytest.raises(redis.exceptions.ResponseError, match="can't access at least one of the keys"):
        a_conn.evalsha(script, 0)

    after = {key: admin.dump(key) for key in admin.scan_iter(match=f"{b.prefix}:*")}
    assert after == before


def test_a_worker_logged_in_as_club_a_but_pointed_at_club_bs_queues_is_refused(
    two_clubs: tuple[RedisClub, RedisClub], bed: WorkerBed, redis_url: str
) -> None:
    a, b = two_clubs
    assert _enqueue_video(b, b.prefix, "video-b1")
    env = bed.env(REDIS_URL=a.url, RQ_KEY_PREFIX=b.prefix)
    log = bed.tmp_path / "worker.log"
    done = subprocess.run(
        [sys.executable, "-m", "club_runtime", "worker", "--burst", "--queues", "video"],
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "NoPermissionError" in log.read_text()
    view = video_queue.read(video_queue.ClubQueues(redis_url, b.prefix), "video-b1")  # as the operator
    assert view is not None
    assert view.status == "queued"  # B's job was not taken


def _marker_job(queue: Queue, func: str, marker: Path, **options: Any) -> str:
    return queue.enqueue(func, f"touch {marker}", retry=Retry(max=3, interval=[1]), **options).id


@pytest.mark.parametrize("prefixed", [True, False], ids=["a club's worker", "an unprefixed worker"])
def test_a_job_naming_an_unregistered_function_fails_at_once_and_never_runs(
    bed: WorkerBed, redis_url: str, prefixed: bool
) -> None:
    if prefixed:
        club = _provision(redis_url, f"redis-{uuid.uuid4().hex[:8]}", "gamma-fc")
        url, prefix = club.url, club.prefix
    else:
        url, prefix = redis_url, "rq"
    marker = bed.tmp_path / "ran"
    conn = redis.Redis.from_url(url)
    # What a holder of the club's Redis login could write: RQ jobs naming anything importable.
    queue_class = video_queue._queue_class(prefix)
    queue = queue_class("video", connection=conn, serializer=JSONSerializer)
    unregistered = "'os.system' is not registered"
    jobs = {
        "os.system": (_marker_job(queue, "os.system", marker), unregistered),
        "a registered job with an unregistered failure callback": (
            _marker_job(queue, contract.PROCESS_VIDEO, marker, on_failure=Callback("os.system")),
            unregistered,
        ),
        "a registered job with an unregistered stopped callback": (
            _marker_job(queue, contract.PROCESS_VIDEO, marker, on_stopped=Callback("os.system")),
            unregistered,
        ),
        "a job whose data is not JSON (a pickle, say)": (
            _marker_job(queue, contract.PROCESS_VIDEO, marker),
            "cannot read as JSON",
        ),
    }
    garbled = jobs["a job whose data is not JSON (a pickle, say)"][0]
    conn.hset(f"{prefix}:job:{garbled}", "data", b"\x80\x04not json")
    run_burst_worker(bed.env(REDIS_URL=url, RQ_KEY_PREFIX=prefix), bed.tmp_path / "worker.log")

    assert not marker.exists()
    held = video_queue.ClubQueues(url, prefix)
    for what, (job_id, reason) in jobs.items():
        job = video_queue._fetch(conn, held, job_id)
        assert job is not None
        assert job.get_status(refresh=False) == "failed", what
        result = video_queue._latest_result(conn, held, job)
        assert result is not None
        assert str(result.exc_string).startswith("UnregisteredFunctionError: "), what
        assert reason in str(result.exc_string), what
        # Failed for good: the retries the job asked for were not spent on it.
        assert job.retries_left == 0, what
    assert conn.llen(f"{prefix}:queue:video") == 0
    assert "refused job" in (bed.tmp_path / "worker.log").read_text()
    if prefixed:
        redis_acl.delete_user(redis_url, *_owner(redis_url, prefix))


def _owner(admin_url: str, prefix: str) -> tuple[str, str, str]:
    record = json.loads(redis.Redis.from_url(admin_url).hget(redis_acl.OWNERS_KEY, prefix) or "{}")
    return record["namespace"], record["name"], record["uid"]


def test_deleting_a_club_removes_its_keys_in_every_database_its_user_could_select(redis_url: str) -> None:
    """The operator's database is not 0 here, so the club's user may SELECT (Redis cannot limit
    SELECT to one database): deletion looks for the club's keys in every database."""
    club = _provision(redis_url, f"redis-{uuid.uuid4().hex[:8]}", "delta-fc")
    here = parse_redis_url(redis_url).database
    elsewhere = 0 if here else 1
    own = redis.Redis.from_url(club.url)
    assert own.set(f"{club.prefix}:lease:video:1", "held")
    away = redis.Redis.from_url(with_database(club.url, elsewhere))
    assert away.set(f"{club.prefix}:stray", "kept?")
    assert redis_acl.delete_user(redis_url, *_owner(redis_url, club.prefix))
    for db in (here, elsewhere):
        admin = redis.Redis.from_url(with_database(redis_url, db))
        assert list(admin.scan_iter(match=f"{club.prefix}:*")) == []
