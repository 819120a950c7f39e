"""The series the API reads from the club's Redis and its pool when scraped: queue depth, the head
job's age and the live workers of each queue (the alert on jobs no worker takes needs a series that
lives while no worker does), and the pool's connections."""

from __future__ import annotations

import re

from prometheus_client.parser import text_string_to_metric_families
from rq import Queue, Worker

from club_runtime.worker.jobs import SERIALIZER
from tests.integration.runtime.conftest import Club


def _samples(club: Club) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = club.client.get("/metrics")
    assert response.status_code == 200
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
        if re.match(r"club_(queue|db_pool)_", sample.name)
    }


def test_queued_jobs_and_workers_are_read_at_scrape_time(make_club: object) -> None:
    club: Club = make_club("a")  # type: ignore[operator]
    redis = club.client.app.state.services.redis  # type: ignore[attr-defined]
    video = Queue(club.settings.queue_video, connection=redis, serializer=SERIALIZER)
    before = _samples(club)
    assert before[("club_queue_depth", (("queue", "video"),))] == 0
    assert before[("club_queue_oldest_job_age_seconds", (("queue", "video"),))] == 0
    assert before[("club_queue_workers", (("queue", "video"),))] == 0

    for n in range(3):
        video.enqueue("club_runtime.worker.jobs.no_such_job", n)
    queued = _samples(club)
    assert queued[("club_queue_depth", (("queue", "video"),))] == 3
    assert queued[("club_queue_depth", (("queue", "default"),))] == 0
    assert queued[("club_queue_oldest_job_age_seconds", (("queue", "video"),))] >= 0
    assert queued[("club_queue_workers", (("queue", "video"),))] == 0

    worker = Worker([video], connection=redis, serializer=SERIALIZER)
    worker.register_birth()
    try:
        listening = _samples(club)
        assert listening[("club_queue_workers", (("queue", "video"),))] == 1
        assert listening[("club_queue_workers", (("queue", "default"),))] == 0
    finally:
        worker.register_death()
    assert _samples(club)[("club_queue_workers", (("queue", "video"),))] == 0


def test_the_pool_reports_its_connections(make_club: object) -> None:
    club: Club = make_club("a")  # type: ignore[operator]
    samples = _samples(club)
    assert samples[("club_db_pool_max_connections", ())] == club.settings.database_pool_max
    held = samples[("club_db_pool_connections", (("state", "idle"),))]
    held += samples[("club_db_pool_connections", (("state", "in_use"),))]
    assert 0 < held <= club.settings.database_pool_max
    assert samples[("club_db_pool_requests_waiting", ())] == 0
