"""Video pipeline: a club's video jobs as its video workers ran them (by outcome, how long they took,
the failure ratio, the bytes they moved), its bucket against its quota, and the VideoJobs of every
club as the operator follows them (by phase, their failure ratio, how long they wait and run). The
runbook's objective is a 720p video processed within 5 minutes."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from club_operator.monitoring import alerts
from club_operator.monitoring.dashboards.panels import (
    CLUB,
    RATE,
    Query,
    Row,
    board,
    club_variables,
    graph,
    ratio,
)

UID = "club-video-pipeline"
VIDEO = f"{CLUB}, {alerts.VIDEO_QUEUES}"
"""The club's video queues (the video queue and its priority and GPU queues)."""
TRANSITIONS = "club_operator_videojob_transitions_total"


def _jobs(metric: str, selector: str) -> str:
    return f"rate({metric}{{{selector}}}[{RATE}])"


def _club() -> Row:
    return Row(
        "The club's video workers",
        [
            graph(
                "Video jobs finished by outcome",
                "Video jobs the club's workers finished per second: succeeded, failed, retried, stopped.",
                "ops",
                Query(f"sum by (outcome) ({_jobs('club_worker_jobs_total', VIDEO)})", "{{outcome}}"),
            ),
            graph(
                "Video job duration",
                f"Wall time of one video job. A p95 over {alerts.VIDEO_SLO_SECONDS // 60} minutes for 30 "
                "minutes: ClubVideoProcessingSlow.",
                "s",
                *(
                    Query(
                        f"histogram_quantile({q}, sum by (le) "
                        f"({_jobs('club_worker_job_duration_seconds_bucket', VIDEO)}))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.95)
                ),
            ),
            graph(
                "Video job failure ratio",
                "The share of the club's finished video jobs that failed. Over 10 % in an hour (at least "
                "3): ClubVideoJobsFailing.",
                "percentunit",
                Query(
                    ratio(
                        _jobs("club_worker_jobs_total", f'{VIDEO}, outcome="failed"'),
                        _jobs("club_worker_jobs_total", f'{VIDEO}, outcome=~"succeeded|failed"'),
                    ),
                    "failed",
                ),
            ),
            graph(
                "Processing seconds per source minute by rendition and encoder (p95)",
                "How long the ffmpeg run that encoded each rendition took per minute of source video "
                "(the renditions of one run share its time), by encoder: libx264 on CPU, h264_nvenc on a "
                "GPU.",
                "s",
                Query(
                    "histogram_quantile(0.95, sum by (rendition, encoder, le) "
                    f"(rate(club_video_processing_seconds_per_source_minute_bucket{{{CLUB}}}[{RATE}])))",
                    "{{rendition}} {{encoder}}",
                ),
            ),
            graph(
                "Bytes moved by video workers",
                "Bytes the club's video jobs downloaded from and uploaded to its bucket.",
                "Bps",
                Query(f"sum({_jobs('club_worker_bytes_read_total', VIDEO)})", "read"),
                Query(f"sum({_jobs('club_worker_bytes_written_total', VIDEO)})", "written"),
            ),
            graph(
                "Storage used against the quota",
                "The club bucket's size (MinIO's data usage: it lags writes by a scanner cycle) and its "
                "quota (spec.storage.quota; neither series without one). Over 90 %: ClubStorageNearQuota.",
                "bytes",
                Query(f"max(club_storage_used_bytes{{{CLUB}}})", "used"),
                Query(f"max(club_storage_quota_bytes{{{CLUB}}})", "quota"),
            ),
        ],
    )


def _fleet() -> Row:
    return Row(
        "VideoJobs of every club (the operator's view)",
        [
            graph(
                "VideoJobs by phase",
                "VideoJobs of every club, by the phase of their status.",
                "short",
                Query("sum by (phase) (club_operator_videojobs)", "{{phase}}"),
            ),
            graph(
                "VideoJob failure ratio",
                "The share of VideoJobs that ended Failed rather than Succeeded.",
                "percentunit",
                Query(
                    ratio(
                        f'rate({TRANSITIONS}{{phase="Failed"}}[{RATE}])',
                        f'rate({TRANSITIONS}{{phase=~"Succeeded|Failed"}}[{RATE}])',
                    ),
                    "failed",
                ),
            ),
            graph(
                "VideoJob wait and processing time (p95)",
                "From queued to a worker starting it, and from started to finished, by outcome.",
                "s",
                Query(
                    "histogram_quantile(0.95, sum by (le) "
                    f"(rate(club_operator_videojob_queue_seconds_bucket[{RATE}])))",
                    "waiting in the queue",
                ),
                Query(
                    "histogram_quantile(0.95, sum by (phase, le) "
                    f"(rate(club_operator_videojob_processing_seconds_bucket[{RATE}])))",
                    "processing, {{phase}}",
                ),
            ),
        ],
    )


def build() -> dashboard.Dashboard:
    return board(
        UID,
        "Club video pipeline",
        "A club's video jobs and storage, and every club's VideoJobs.",
        club_variables(),
        [_club(), _fleet()],
    )
