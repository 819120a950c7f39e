"""Prometheus metrics of the workers, declared once. Labels are bounded: `queue` is one of the
configured queue names, `outcome` one of OUTCOMES.

They live in the long-lived worker process, not in the per-job work horse (which exits after each
job): the worker observes each job around the horse and reads the bytes the horse recorded in the
job's metadata. Queue depth is read from Redis at scrape time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue

OUTCOMES = ("succeeded", "failed", "retried", "stopped")

JOBS = Counter("club_worker_jobs_total", "Jobs finished, by queue and outcome", ["queue", "outcome"])
JOB_DURATION = Histogram(
    "club_worker_job_duration_seconds",
    "Wall time of one job execution",
    ["queue"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
IN_PROGRESS = Gauge("club_worker_jobs_in_progress", "Jobs this worker is executing", ["queue"])
BYTES_READ = Counter("club_worker_bytes_read_total", "Bytes downloaded from object storage", ["queue"])
BYTES_WRITTEN = Counter("club_worker_bytes_written_total", "Bytes uploaded to object storage", ["queue"])


class QueueDepthCollector(Collector):
    """`club_worker_queue_depth{queue}`: jobs waiting, read from Redis when scraped."""

    def __init__(self, queues: Sequence[Queue]) -> None:
        self._queues = list(queues)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        family = GaugeMetricFamily("club_worker_queue_depth", "Jobs waiting in the queue", labels=["queue"])
        for queue in self._queues:
            family.add_metric([queue.name], float(queue.count))
        yield family


def observe_job(queue: str, outcome: str, seconds: float, bytes_read: int, bytes_written: int) -> None:
    JOBS.labels(queue=queue, outcome=outcome if outcome in OUTCOMES else "failed").inc()
    JOB_DURATION.labels(queue=queue).observe(seconds)
    BYTES_READ.labels(queue=queue).inc(bytes_read)
    BYTES_WRITTEN.labels(queue=queue).inc(bytes_written)
