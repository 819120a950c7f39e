"""Queue health: a club's RQ queues as its API pods read them from Redis (jobs waiting, how long
the oldest has waited, the workers listening) and the jobs its workers finished (by outcome, how
long they took, how many run now). The runbook's queue lag objective is 100 jobs waiting."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from club_operator.monitoring import alerts
from club_operator.monitoring.dashboards.panels import CLUB, RATE, Query, Row, board, club_variables, graph

UID = "club-queue-health"


def _queues() -> Row:
    return Row(
        "Queues",
        [
            graph(
                "Jobs waiting by queue",
                f"Jobs queued and not taken yet. Over {alerts.QUEUE_LAG_SLO_JOBS} for 15 minutes: "
                "ClubQueueBacklog.",
                "short",
                Query(f"max by (queue) (club_queue_depth{{{CLUB}}})", "{{queue}}"),
            ),
            graph(
                "Age of the oldest waiting job",
                "How long the job at the head of each queue has waited (0 when the queue is empty).",
                "s",
                Query(f"max by (queue) (club_queue_oldest_job_age_seconds{{{CLUB}}})", "{{queue}}"),
            ),
            graph(
                "Workers listening per queue",
                "Live RQ workers registered on each queue. Jobs waiting with none for 10 minutes: "
                "ClubQueueNoWorker.",
                "short",
                Query(f"max by (queue) (club_queue_workers{{{CLUB}}})", "{{queue}}"),
            ),
        ],
    )


def _jobs() -> Row:
    return Row(
        "Jobs",
        [
            graph(
                "Jobs finished per second by queue and outcome",
                "Jobs the club's workers finished: succeeded, failed, retried or stopped.",
                "ops",
                Query(
                    f"sum by (queue, outcome) (rate(club_worker_jobs_total{{{CLUB}}}[{RATE}]))",
                    "{{queue}} {{outcome}}",
                ),
            ),
            graph(
                "p95 job duration by queue",
                "95th percentile of one job's wall time, by queue.",
                "s",
                Query(
                    "histogram_quantile(0.95, sum by (queue, le) "
                    f"(rate(club_worker_job_duration_seconds_bucket{{{CLUB}}}[{RATE}])))",
                    "{{queue}}",
                ),
            ),
            graph(
                "Jobs running by queue",
                "Jobs the club's workers execute now.",
                "short",
                Query(f"sum by (queue) (club_worker_jobs_in_progress{{{CLUB}}})", "{{queue}}"),
            ),
        ],
    )


def build() -> dashboard.Dashboard:
    return board(
        UID,
        "Club queue health",
        "A club's job queues and the workers that take their jobs.",
        club_variables(),
        [_queues(), _jobs()],
    )
