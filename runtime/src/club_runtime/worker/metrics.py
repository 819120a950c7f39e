"""Prometheus metrics of the workers, declared once. Labels are bounded: `queue` is one of the
configured queue names, `outcome` one of OUTCOMES, `rendition` one of RENDITIONS (a ladder rung) or
"other", `encoder` one of ENCODERS or "other".

They live in the long-lived worker process, not in the per-job work horse (which exits after each
job): the worker observes each job around the horse and reads the bytes the horse recorded in the
job's metadata. Queue depth is read from Redis at scrape time.

Video processing speed: the horse records each ffmpeg ladder run in the job's metadata
(`transcodes`: the renditions it encoded, the encoder, its seconds and the source's seconds), and the
worker observes, per rendition, the run's seconds per minute of source. The renditions of one run
are encoded together (one decode for all), so each is observed with the whole run's time: a run of
720p, 480p and 360p that took 90 s for a 3-minute source is 30 s/min for each of the three."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from rq import Queue

OUTCOMES = ("succeeded", "failed", "retried", "stopped")
# The ladder's usual rungs (media/ladder.py); a request may name any height, and a source shorter
# than every rung is served at its own height: those are "other", so the label set stays bounded.
RENDITIONS = ("2160p", "1440p", "1080p", "720p", "480p", "360p", "240p")
ENCODERS = ("libx264", "h264_nvenc")
OTHER = "other"

JOBS = Counter("club_worker_jobs_total", "Jobs finished, by queue and outcome", ["queue", "outcome"])
JOB_DURATION = Histogram(
    "club_worker_job_duration_seconds",
    "Wall time of one job execution",
    ["queue"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200),
)
VIDEO_SECONDS_PER_SOURCE_MINUTE = Histogram(
    "club_video_processing_seconds_per_source_minute",
    "Seconds the ffmpeg run that encoded a rendition took, per minute of source video"
    " (renditions encoded in one run share its time)",
    ["rendition", "encoder"],
    buckets=(1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600),
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


def seconds_per_source_minute(seconds: float, source_seconds: float) -> float | None:
    """Processing seconds per minute of source; None when either is not a usable measure."""
    if seconds < 0 or source_seconds <= 0:
        return None
    return seconds * 60 / source_seconds


def transcode_samples(meta: Mapping[str, Any]) -> list[tuple[str, str, float]]:
    """(rendition, encoder, seconds per source minute) for each rendition of each ladder run the
    job's metadata records (`transcodes`, written by the video job); labels bounded (RENDITIONS,
    ENCODERS, else OTHER). What is not a well-formed record is skipped: metadata is another
    process's writing."""
    runs = meta.get("transcodes")
    samples: list[tuple[str, str, float]] = []
    if not isinstance(runs, list):
        return samples
    for run in runs:
        if not isinstance(run, Mapping):
            continue
        renditions, encoder = run.get("renditions"), run.get("encoder")
        seconds, source_seconds = _float(run.get("seconds")), _float(run.get("source_seconds"))
        if not isinstance(renditions, list) or seconds is None or source_seconds is None:
            continue
        value = seconds_per_source_minute(seconds, source_seconds)
        if value is None:
            continue
        label = encoder if encoder in ENCODERS else OTHER
        for name in renditions:
            samples.append((name if name in RENDITIONS else OTHER, label, value))
    return samples


def _float(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def observe_transcodes(meta: Mapping[str, Any]) -> None:
    for rendition, encoder, value in transcode_samples(meta):
        VIDEO_SECONDS_PER_SOURCE_MINUTE.labels(rendition=rendition, encoder=encoder).observe(value)
