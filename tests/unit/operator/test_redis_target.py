"""Where the workers find Redis, and which queue a video job goes to."""

from __future__ import annotations

import pytest

from club_operator.redis_target import parse_redis_url, video_queue_for, video_queues

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
