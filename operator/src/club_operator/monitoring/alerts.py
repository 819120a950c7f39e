"""The alerts on clubs, their queues and the operator itself.

Per-club alerts leave out a suspended Club (`club_operator_club_suspended`): it is scaled to zero on
purpose, takes no backups, rotates nothing and is not probed. Thresholds are the runbook's SLOs
where it names one (queue lag under 100 jobs, a 720p video processed within 5 minutes)."""

from __future__ import annotations

from club_operator.monitoring.rules import Alert, Group, Severity

OPERATOR_JOB = "club-operator"
"""The scrape job of the operator's pods (the chart's ServiceMonitor and the local Prometheus)."""

CLUB = "{{ $labels.namespace }}/{{ $labels.club }}"
_ACTIVE = "unless on (namespace, club) club_operator_club_suspended == 1"
BACKUP_MAX_AGE_HOURS = 26  # ClubBackupMissing's wait: the default schedule is daily (03:00), and a margin
# ClubBackupTooOld: the newest success is older than the schedule's longest interval times this,
# plus BACKUP_AGE_SLACK_SECONDS (the backup's own run and verify, a Job started late): one run missed
# and half an interval more. Daily: 37 h; weekly: 10.5 days 1 h; every 15 minutes: 1 h 22.5 min.
BACKUP_AGE_FACTOR = 1.5
BACKUP_AGE_SLACK_SECONDS = 3600
QUEUE_LAG_SLO_JOBS = 100
# A club's video queues: `<namespace>.<club>.video` and its priority and GPU queues
# (`.high`, `.low`, `.gpu`: redis_target.video_queues); a raw string, so no escaping.
VIDEO_QUEUES = "queue=~`(.+\\.)?video(\\..+)?`"
VIDEO_SLO_SECONDS = 300


def _active(expr: str) -> str:
    return f"(\n{expr}\n)\n{_ACTIVE}"


def _clubs() -> Group:
    return Group(
        "club-platform.clubs",
        [
            Alert(
                "ClubTenantIsolationProbeFailing",
                _active(
                    "max by (namespace, club) (club_operator_tenant_isolation_verified) == 0\n"
                    "or\n"
                    "time() - max by (namespace, club) "
                    "(club_operator_tenant_isolation_last_probe_timestamp_seconds) > 1800"
                ),
                Severity.CRITICAL,
                summary=f"Tenant isolation of club {CLUB} is not proven",
                description=(
                    "The operator's probe (a cross-tenant read as the club's role, which must return "
                    "nothing) failed, could not run, or has not run for 30 minutes. Until it passes, "
                    "another club's rows may be readable through this club."
                ),
                for_="5m",
            ),
            Alert(
                "ClubNotReady",
                _active("max by (namespace, club) (club_operator_club_ready) == 0"),
                Severity.WARNING,
                summary=f"Club {CLUB} has not been Ready for 15 minutes",
                description="The Club's Ready condition is False; its conditions say which part is missing.",
                for_="15m",
            ),
            Alert(
                "ClubReconcileErrors",
                _active(
                    "sum by (namespace, club) (increase(club_operator_club_reconcile_errors_total[15m])) > 0"
                ),
                Severity.WARNING,
                summary=f"Reconciles of club {CLUB} keep finding problems",
                description=(
                    "For 15 minutes every reconcile of the Club found a condition False for a problem "
                    "({{ $value | humanize }} in the last 15 minutes)."
                ),
                for_="15m",
            ),
            Alert(
                "ClubBackupTooOld",
                _active(
                    "time() - max by (namespace, club) (club_backup_last_success_timestamp_seconds)\n"
                    "> on (namespace, club)\n"
                    "max by (namespace, club) (club_backup_schedule_interval_seconds) "
                    f"* {BACKUP_AGE_FACTOR} + {BACKUP_AGE_SLACK_SECONDS}\n"
                    "and on (namespace, club)\n"
                    "club_backup_scheduled == 1"
                ),
                Severity.WARNING,
                summary=(
                    f"Club {CLUB} has had no successful backup for {{{{ $value | humanizeDuration }}}}, "
                    "longer than its schedule allows"
                ),
                description=(
                    "The club's newest successful backup finished {{ $value | humanizeDuration }} ago: over "
                    f"{BACKUP_AGE_FACTOR} times the longest interval of its backup schedule "
                    f"(club_backup_schedule_interval_seconds) plus {BACKUP_AGE_SLACK_SECONDS // 60} minutes. "
                    "Its backup schedule stopped, or its backups fail."
                ),
                for_="10m",
            ),
            Alert(
                "ClubBackupMissing",
                _active(
                    "club_backup_scheduled == 1\n"
                    "unless on (namespace, club)\n"
                    "club_backup_last_success_timestamp_seconds"
                ),
                Severity.WARNING,
                summary=f"Club {CLUB} has backups scheduled but none has succeeded",
                description=(
                    f"For {BACKUP_MAX_AGE_HOURS} hours the Club's backups have been scheduled and it has no "
                    "successful backup at all: its first backup never ran, or never succeeded."
                ),
                for_=f"{BACKUP_MAX_AGE_HOURS}h",
            ),
            Alert(
                "ClubBackupFailed",
                _active("max by (namespace, club) (club_backup_newest_failed) == 1"),
                Severity.WARNING,
                summary=f"The newest backup of club {CLUB} failed",
                description="The Club's newest finished ClubBackup failed: its Job did not succeed.",
            ),
            Alert(
                "ClubBackupVerifyFailed",
                _active("max by (namespace, club) (club_backup_newest_verify_failed) == 1"),
                Severity.CRITICAL,
                summary=f"The newest backup of club {CLUB} failed its verify",
                description=(
                    "Restoring the club's newest backup into a scratch database did not give back what its "
                    "manifest says: that backup cannot be relied on for a restore."
                ),
            ),
            Alert(
                "ClubSecretRotationOverdue",
                _active(
                    "time() - max by (namespace, club, credential) "
                    "(club_secret_next_rotation_timestamp_seconds) > 3600"
                ),
                Severity.WARNING,
                summary=f"Rotation of {{{{ $labels.credential }}}} of club {CLUB} is overdue",
                description=(
                    "The credential was due to rotate {{ $value | humanizeDuration }} ago and no new one "
                    "has been issued."
                ),
                for_="15m",
            ),
            Alert(
                "ClubSecretRotationStuck",
                _active(
                    'max by (namespace, club, credential) (club_secret_rotation_phase{phase="Issued"}) == 1\n'
                    "and on (namespace, club, credential)\n"
                    "time() - max by (namespace, club, credential) "
                    "(club_secret_last_rotation_timestamp_seconds) > 3600"
                ),
                Severity.WARNING,
                summary=f"Rotation of {{{{ $labels.credential }}}} of club {CLUB} is stuck in Issued",
                description=(
                    "A new credential was issued over an hour ago and the club's pods have not all rolled "
                    "onto it (Propagated), so the previous one cannot be revoked."
                ),
                for_="15m",
            ),
            Alert(
                "ClubStorageNearQuota",
                _active(
                    "max by (namespace, club) (club_storage_used_bytes)\n"
                    "/ on (namespace, club)\n"
                    "max by (namespace, club) (club_storage_quota_bytes) > 0.9"
                ),
                Severity.WARNING,
                summary=f"Club {CLUB} has used {{{{ $value | humanizePercentage }}}} of its storage quota",
                description=(
                    "The club's bucket is above 90 % of spec.storage.quota; at the quota, uploads and "
                    "video outputs are refused."
                ),
                for_="15m",
            ),
            Alert(
                "ClubDatabaseConnectionsNearLimit",
                _active(
                    "max by (namespace, club) (club_database_connections)\n"
                    "/ on (namespace, club)\n"
                    "max by (namespace, club) (club_database_connection_limit) > 0.8"
                ),
                Severity.WARNING,
                summary=(
                    f"Club {CLUB} holds {{{{ $value | humanizePercentage }}}} of its database "
                    "connection limit"
                ),
                description=(
                    "The club's sessions on its database server (its API pods, workers and backup Jobs, "
                    "counted by the server) are over 80 % of the connections its login may open "
                    "(spec.database.limits.connectionLimit); at the limit, new connections are refused."
                ),
                for_="10m",
            ),
            Alert(
                "ClubDatabasePoolExhausted",
                _active("sum by (namespace, club) (club_db_pool_requests_waiting) > 0"),
                Severity.WARNING,
                summary=f"Requests of club {CLUB} are waiting for a database connection",
                description=(
                    "For 5 minutes the API pods' pools had no free connection for some requests: queries "
                    "run long (locks, slow queries) or the pool is too small for the traffic."
                ),
                for_="5m",
            ),
        ],
    )


def _queues() -> Group:
    depth = "max by (namespace, club, queue) (club_queue_depth)"
    return Group(
        "club-platform.queues",
        [
            Alert(
                "ClubQueueNoWorker",
                _active(
                    f"{depth} > 0\n"
                    "and on (namespace, club, queue)\n"
                    "max by (namespace, club, queue) (club_queue_workers) == 0"
                ),
                Severity.CRITICAL,
                summary=f"Jobs wait in queue {{{{ $labels.queue }}}} of club {CLUB} and no worker takes them",
                description=(
                    "{{ $value }} jobs are queued and no worker has listened on the queue for 10 minutes: "
                    "nothing will process them."
                ),
                for_="10m",
            ),
            Alert(
                "ClubQueueBacklog",
                _active(f"{depth} > {QUEUE_LAG_SLO_JOBS}"),
                Severity.WARNING,
                summary=f"Queue {{{{ $labels.queue }}}} of club {CLUB} holds {{{{ $value }}}} jobs",
                description=(
                    f"Over {QUEUE_LAG_SLO_JOBS} jobs have waited for 15 minutes (the queue lag objective): "
                    "the club's workers do not keep up."
                ),
                for_="15m",
            ),
            Alert(
                "ClubVideoJobsFailing",
                _active(
                    f"sum by (namespace, club) (increase(club_worker_jobs_total{{{VIDEO_QUEUES}, "
                    'outcome="failed"}[1h])) >= 3\n'
                    "and\n"
                    f"sum by (namespace, club) (increase(club_worker_jobs_total{{{VIDEO_QUEUES}, "
                    'outcome="failed"}[1h]))\n'
                    "/\n"
                    f"sum by (namespace, club) (increase(club_worker_jobs_total{{{VIDEO_QUEUES}, "
                    'outcome=~"succeeded|failed"}[1h])) > 0.1'
                ),
                Severity.WARNING,
                summary=f"Video jobs of club {CLUB} fail",
                description="Over 10 % of the club's video jobs in the last hour failed (at least 3).",
                for_="5m",
            ),
            Alert(
                "ClubVideoProcessingSlow",
                _active(
                    "histogram_quantile(0.95,\n"
                    "  sum by (namespace, club, le) "
                    f"(rate(club_worker_job_duration_seconds_bucket{{{VIDEO_QUEUES}}}[1h]))\n"
                    f") > {VIDEO_SLO_SECONDS}"
                ),
                Severity.WARNING,
                summary=f"Video jobs of club {CLUB} take {{{{ $value | humanizeDuration }}}} (p95)",
                description=(
                    f"The club's 95th percentile video job over the last hour took longer than "
                    f"{VIDEO_SLO_SECONDS // 60} minutes, the objective for a 720p video."
                ),
                for_="30m",
            ),
            Alert(
                "ClubMetricsTargetDown",
                _active('max by (namespace, club, job) (up{club!=""}) == 0'),
                Severity.WARNING,
                summary=f"Prometheus cannot scrape the {{{{ $labels.job }}}} pods of club {CLUB}",
                description=(
                    "Every target of the job in the club has failed its scrapes for 10 minutes: its "
                    "dashboards go blank and alerts on its series cannot fire."
                ),
                for_="10m",
            ),
        ],
    )


def _operator() -> Group:
    return Group(
        "club-platform.operator",
        [
            Alert(
                "ClubOperatorDown",
                f'absent(up{{job="{OPERATOR_JOB}"}} == 1)',
                Severity.CRITICAL,
                summary="The club operator is down",
                description=(
                    "No operator pod has answered a scrape for 5 minutes: no Club is reconciled, probed, "
                    "backed up or rotated."
                ),
                for_="5m",
            ),
            Alert(
                "ClubOperatorWatchStalled",
                "max(club_operator_watch_stalled_clubs) > 0\nor\nmax(club_operator_pending_reconciles) > 0",
                Severity.WARNING,
                summary="The club operator is behind the API server",
                description=(
                    "The operator's watch of Clubs missed changes the API server has, or Clubs have waited "
                    "15 minutes for their latest spec to be reconciled."
                ),
                for_="15m",
            ),
        ],
    )


def groups() -> list[Group]:
    return [_clubs(), _queues(), _operator()]
