"""`club-runtime worker`: start an RQ worker on the club's queues.

Everything comes from the runtime settings (the environment the operator sets); the flags only
choose queues and modes. The process serves Prometheus metrics on WORKER_METRICS_PORT."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from prometheus_client import REGISTRY, start_http_server
from rq import Queue

from club_runtime import redis_client
from club_runtime.media import runner
from club_runtime.settings import Settings, get_settings
from club_runtime.worker import logs, metrics
from club_runtime.worker.club_worker import ClubWorker, record_abandoned
from club_runtime.worker.jobs import SERIALIZER
from club_runtime.worker.registry import RegisteredJob

log = logging.getLogger(__name__)


def build_parser(settings: Settings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="club-runtime worker", description="Run an RQ worker for one club.")
    parser.add_argument(
        "--queues",
        default=f"{settings.queue_video},{settings.queue_default}",
        help="comma-separated queue names, highest priority first (default: %(default)s)",
    )
    parser.add_argument("--burst", action="store_true", help="exit once the queues are empty")
    parser.add_argument("--name", default=None, help="worker name (default: RQ's host.pid)")
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=settings.worker_metrics_port,
        help="0 disables (default: %(default)s)",
    )
    parser.add_argument(
        "--no-scheduler",
        dest="scheduler",
        action="store_false",
        help="do not run RQ's scheduler here (it moves retries whose backoff has passed back to the queue)",
    )
    return parser


def make_worker(settings: Settings, queue_names: Sequence[str], name: str | None = None) -> ClubWorker:
    connection = redis_client.connect(settings)
    # RQ talks to Redis as the worker is made (it names its connection) and registers it at start: a
    # worker started during a Redis outage waits for it instead of exiting into a crash loop.
    redis_client.wait_until_reachable(connection)
    queues = [
        Queue(q, connection=connection, serializer=SERIALIZER, job_class=RegisteredJob) for q in queue_names
    ]
    worker = ClubWorker(
        queues,
        connection=connection,
        serializer=SERIALIZER,
        name=name,
        job_monitoring_interval=settings.worker_job_monitoring_interval_sec,
        maintenance_interval=settings.worker_maintenance_interval_sec,
        exception_handlers=[record_abandoned],
    )
    worker.heartbeat_grace_sec = settings.worker_heartbeat_grace_sec
    worker.video_timeout_sec = settings.video_process_timeout_sec
    worker.retry_intervals = tuple(settings.video_retry_intervals_sec)
    return worker


def main(argv: Sequence[str] | None = None) -> int:
    settings = get_settings()
    args = build_parser(settings).parse_args(argv)
    logs.configure(settings.log_level)
    queue_names = [q.strip() for q in args.queues.split(",") if q.strip()]
    worker = make_worker(settings, queue_names, args.name)
    if args.metrics_port:
        REGISTRY.register(metrics.QueueDepthCollector(worker.queues))
        start_http_server(args.metrics_port)
    # Detect the encoder once, here: every work horse forked from this process inherits the answer.
    runner.detect_encoder(settings.ffmpeg_path, settings.enable_gpu, settings.video_x264_preset)
    log.info("worker starting", extra={"queues": queue_names, "club": settings.club_slug or settings.club_id})
    worker.work(burst=args.burst, with_scheduler=args.scheduler, logging_level=settings.log_level.upper())
    return 0
