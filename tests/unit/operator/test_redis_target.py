"""Where the workers find Redis, as which user, under which key prefix, with which rights, and which
queue a video job goes to."""

from __future__ import annotations

import re

import pytest

from club_operator.redis_target import (
    acl_rules,
    club_prefix,
    parse_redis_url,
    reader_rules,
    video_queue_for,
    video_queues,
    with_database,
    with_user,
)

VIDEO = "demo.riverside-fc.video"


def test_a_redis_url_gives_keda_its_address_password_and_database() -> None:
    target = parse_redis_url("redis://:s%40cret@redis.platform:6380/7")
    assert (target.address, target.password, target.database) == ("redis.platform:6380", "s@cret", 7)
    assert parse_redis_url("redis://localhost").address == "localhost:6379"


def test_anything_but_a_redis_url_is_refused() -> None:
    with pytest.raises(ValueError, match="redis://"):
        parse_redis_url("http://localhost:6379")


def test_high_priority_queues_come_first_and_only_gpu_workers_take_gpu_only_jobs() -> None:
    cpu = video_queues(VIDEO, gpu_workers=False)
    gpu = video_queues(VIDEO, gpu_workers=True)
    assert cpu == (f"{VIDEO}.high", VIDEO, f"{VIDEO}.low")
    assert gpu == (f"{VIDEO}.gpu", *cpu)


@pytest.mark.parametrize(
    ("priority", "gpu_required", "expected"),
    [
        ("normal", False, (VIDEO, False)),
        ("high", False, (f"{VIDEO}.high", False)),
        ("low", False, (f"{VIDEO}.low", False)),
        ("normal", True, (f"{VIDEO}.gpu", False)),
        ("high", True, (f"{VIDEO}.gpu", True)),
    ],
)
def test_each_job_goes_to_a_queue_its_workers_listen_on(
    priority: str, gpu_required: bool, expected: tuple[str, bool]
) -> None:
    queue, front = video_queue_for(VIDEO, priority=priority, gpu_required=gpu_required)
    assert (queue, front) == expected
    assert queue in video_queues(VIDEO, gpu_workers=True)
    assert gpu_required or queue in video_queues(VIDEO, gpu_workers=False)


def test_a_clubs_url_logs_in_as_its_own_user_on_the_operators_server() -> None:
    url = with_user("redis://:admin%40pw@redis.platform:6380/7", "club:team-a.rovers", "p@ss/word")
    assert url == "redis://club%3Ateam-a.rovers:p%40ss%2Fword@redis.platform:6380/7"
    target = parse_redis_url(url)
    assert (target.address, target.password, target.database) == ("redis.platform:6380", "p@ss/word", 7)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        (("team-a", "x"), ("team", "a-x")),
        (("a", "b-c"), ("a-b", "c")),
        (("team", "Rovers"), ("team", "rovers")),
        (("team", "a.b"), ("team.a", "b")),
    ],
)
def test_the_prefix_is_injective_and_no_clubs_keys_match_anothers_pattern(
    one: tuple[str, str], other: tuple[str, str]
) -> None:
    a, b = club_prefix(*one), club_prefix(*other)
    assert a != b
    assert not f"{b}:queue:x".startswith(f"{a}:")
    assert not f"{a}:queue:x".startswith(f"{b}:")


def test_a_plain_pair_reads_as_itself_and_anything_else_gets_a_digest() -> None:
    assert club_prefix("team-a", "riverside-fc") == "club:team-a.riverside-fc"
    odd = club_prefix("team", "Rovers")
    assert odd.startswith("club:team.rovers_")
    assert len(odd.rsplit("_", 1)[1]) == 12
    assert club_prefix("team", "Rovers") == odd  # stable
    for prefix in (odd, club_prefix("team-a", "riverside-fc")):
        assert re.fullmatch(r"[A-Za-z0-9_.:-]+", prefix)  # what RQ accepts; nothing an ACL glob reads


def test_a_clubs_user_may_touch_only_its_keys_and_channels_and_only_rqs_commands() -> None:
    rules = acl_rules("club:team-a.rovers", "ab" * 32, database=0)
    assert rules[:6] == (
        "reset",
        "on",
        "#" + "ab" * 32,
        "~club:team-a.rovers:*",
        "&club:team-a.rovers:*",
        "-@all",
    )
    allowed = {r[1:] for r in rules[6:]}
    assert all(r.startswith("+") for r in rules[6:])
    # EVAL: KEDA's redis scaler sends its Lua script (TYPE, then LLEN or ZCARD) that way.
    assert {"hgetall", "lmove", "eval", "evalsha", "subscribe", "publish", "llen", "zcard"} <= allowed
    refused = {"keys", "scan", "flushall", "flushdb", "config", "acl", "debug", "info", "monitor"}
    assert not refused & allowed
    assert not {
        c for c in allowed if c.startswith(("script|flush", "script|kill", "client|list", "client|kill"))
    }
    assert "select" not in allowed
    assert "+select" in acl_rules("club:team-a.rovers", "ab" * 32, database=3)
    assert not any(r.startswith(">") for r in rules)  # the password itself never travels


def test_the_operators_reader_may_only_read_job_hashes_and_results() -> None:
    rules = reader_rules("cd" * 32, database=0)
    assert rules[:3] == ("reset", "on", "#" + "cd" * 32)
    assert [r for r in rules if r[0] in "~%&"] == ["%R~club:*:job:*", "%R~club:*:results:*"]
    assert {r for r in rules if r.startswith("+")} == {"+hello", "+ping", "+hgetall", "+xrevrange"}
    assert "+select" in reader_rules("cd" * 32, database=5)


def test_a_url_moves_to_another_database_keeping_its_login() -> None:
    assert with_database("redis://u:p@host:6380/7", 0) == "redis://u:p@host:6380/0"
    assert parse_redis_url(with_database("redis://host", 3)).database == 3
