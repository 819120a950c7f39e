"""Series read from the club's queues and the API's database pool when Prometheus scrapes the API.

The API serves them, not the workers: an alert on jobs waiting with no worker to take them needs a
series that lives while no worker does. Each API pod reports the same queues (alerts take the max);
its pool is its own (alerts sum the pods).

- `club_queue_depth{queue}`: jobs waiting;
- `club_queue_oldest_job_age_seconds{queue}`: how long the job at the head has waited (0 when none);
- `club_queue_workers{queue}`: live RQ workers listening on the queue (registered, heartbeat not
  expired: one killed without unregistering drops out when its key expires);
- `club_db_pool_connections{state}` (in_use, idle), `club_db_pool_max_connections`,
  `club_db_pool_requests_waiting`: the API pod's connection pool.

`QueueCollector` reads Redis (blocking): the endpoint runs it in a thread. Labels are bounded: queue
is one of the club's queue names (five), state one of two."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from redis import Redis
from rq import Queue, Worker
from rq.job import Job
from rq.utils import utcparse

# The video pool's priority and GPU queues beside `<video queue>` itself (the operator enqueues
# VideoJobs there: club_operator.redis_target.video_queues; a unit test keeps the two in step).
VIDEO_QUEUE_SUFFIXES = ("high", "low", "gpu")

NAMES = (
    "club_queue_depth",
    "club_queue_oldest_job_age_seconds",
    "club_queue_workers",
    "club_db_pool_connections",
    "club_db_pool_max_connections",
    "club_db_pool_requests_waiting",
)


def queue_names(default_queue: str, video_queue: str) -> tuple[str, ...]:
    """Every queue of the club: the default one, the video one and its priority and GPU queues."""
    return (default_queue, video_queue, *(f"{video_queue}.{suffix}" for suffix in VIDEO_QUEUE_SUFFIXES))


class QueueCollector(Collector):
    def __init__(self, connection: Redis, queue_names: Sequence[str]) -> None:
        self._queues = [Queue(name, connection=connection) for name in queue_names]
        self._connection = connection

    def collect(self) -> Iterable[GaugeMetricFamily]:
        depth = GaugeMetricFamily("club_queue_depth", "Jobs waiting in the queue", labels=["queue"])
        age = GaugeMetricFamily(
            "club_queue_oldest_job_age_seconds",
            "How long the job at the head of the queue has waited (0 when the queue is empty)",
            labels=["queue"],
        )
        workers = GaugeMetricFamily(
            "club_queue_workers", "Live workers listening on the queue", labels=["queue"]
        )
        now = time.time()
        for queue in self._queues:
            depth.add_metric([queue.name], float(queue.count))
            age.add_metric([queue.name], self._oldest_age(queue, now))
            keys = Worker.all_keys(connection=self._connection, queue=queue)
            live = sum(1 for key in keys if self._connection.exists(key))
            workers.add_metric([queue.name], float(live))
        yield from (depth, age, workers)

    def _oldest_age(self, queue: Queue, now: float) -> float:
        head = queue.get_job_ids(0, 0)
        if not head:
            return 0.0
        enqueued = self._connection.hget(Job.key_for(head[0]), "enqueued_at")
        if not enqueued:
            return 0.0  # the job's hash expired or was deleted: RQ skips it when dequeuing
        text = enqueued.decode() if isinstance(enqueued, bytes) else str(enqueued)
        try:
            started = utcparse(text)
        except ValueError:
            return 0.0
        return max(now - started.timestamp(), 0.0)


class PoolCollector(Collector):
    def __init__(self, stats: Mapping[str, int]) -> None:
        self._stats = stats

    def collect(self) -> Iterable[GaugeMetricFamily]:
        size = self._stats.get("pool_size", 0)
        idle = self._stats.get("pool_available", 0)
        connections = GaugeMetricFamily(
            "club_db_pool_connections", "Connections the API pod's pool holds, by state", labels=["state"]
        )
        connections.add_metric(["in_use"], float(max(size - idle, 0)))
        connections.add_metric(["idle"], float(idle))
        yield connections
        yield GaugeMetricFamily(
            "club_db_pool_max_connections",
            "The most connections the API pod's pool opens",
            value=float(self._stats.get("pool_max", 0)),
        )
        yield GaugeMetricFamily(
            "club_db_pool_requests_waiting",
            "Requests waiting for a connection of the API pod's pool",
            value=float(self._stats.get("requests_waiting", 0)),
        )


def exposition(connection: Redis, queue_names: Sequence[str], pool_stats: Mapping[str, int]) -> bytes:
    """The series above in Prometheus's text format (blocking: reads Redis)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(QueueCollector(connection, queue_names))
    registry.register(PoolCollector(pool_stats))
    return generate_latest(registry)
