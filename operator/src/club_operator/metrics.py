"""The operator's Prometheus metrics, declared once. Labels are bounded: namespace and club name
(one series per Club), step and outcome from fixed sets."""

from __future__ import annotations

import contextlib

from prometheus_client import Counter, Gauge, Histogram

ISOLATION_VERIFIED = Gauge(
    "club_operator_tenant_isolation_verified",
    "1 when the last isolation probe of the club's tenant passed, 0 when it failed or could not run",
    ["namespace", "club"],
)
ISOLATION_PROBE_TIME = Gauge(
    "club_operator_tenant_isolation_last_probe_timestamp_seconds",
    "Unix time of the club's last isolation probe",
    ["namespace", "club"],
)
PROBES = Counter(
    "club_operator_isolation_probes_total", "Isolation probes by result", ["result"]
)  # result: passed, failed, error
CLUB_READY = Gauge(
    "club_operator_club_ready", "1 when the Club's Ready condition is True", ["namespace", "club"]
)
RECONCILES = Counter(
    "club_operator_reconciles_total", "Reconciles by outcome", ["outcome"]
)  # outcome: unchanged, changed, rolling_out, temporary_error, permanent_error
WRITES = Counter(
    "club_operator_writes_total", "Changes made to managed resources, by kind", ["kind"]
)  # kind: secret, database, schema, canary, role, storage, redis, workload


CLUB_RECONCILES = Counter(
    "club_operator_club_whole_reconciles_total",
    "Whole reconciles of the club completed, its status reported (not rollout checks alone)",
    ["namespace", "club"],
)
RECONCILE_SECONDS = Histogram(
    "club_operator_reconcile_duration_seconds",
    "Time one reconcile of a Club took",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
ERRORS = Counter(
    "club_operator_reconcile_errors_total",
    "Conditions a reconcile found False for a problem, by reason",
    ["reason"],
)  # reason: conditions.Reason values; never RollingOut, Suspended or DatabaseNotReady (status.problems)
CLUBS_BY_CONDITION = Gauge(
    "club_operator_clubs", "Clubs by condition type and status", ["condition", "status"]
)
PENDING_RECONCILES = Gauge(
    "club_operator_pending_reconciles", "Clubs whose latest generation has not been reconciled yet"
)
LEADER = Gauge(
    "club_operator_leader",
    "1 while this replica runs the handlers (it holds the Lease, or runs without leader election),"
    " 0 while it stands by",
)

# A club's backups (backup_summary.py): no series until the club has such a backup, so that an alert
# on their age never fires for a club that has not had its first one yet.
BACKUP_LAST_SUCCESS = Gauge(
    "club_backup_last_success_timestamp_seconds",
    "Unix time the club's newest successful backup finished",
    ["namespace", "club"],
)
BACKUP_LAST_VERIFIED = Gauge(
    "club_backup_last_verified_timestamp_seconds",
    "Unix time verify last restored one of the club's backups and found it whole",
    ["namespace", "club"],
)
BACKUP_SIZE = Gauge(
    "club_backup_size_bytes", "Compressed size of the club's newest successful backup", ["namespace", "club"]
)
BACKUP_DURATION = Gauge(
    "club_backup_duration_seconds", "How long the club's newest successful backup took", ["namespace", "club"]
)
BACKUP_VERIFIES = Counter(
    "club_backup_verifies_total", "Backups verified by a restore, by result", ["result"]
)  # result: passed, failed, error (verify could not run: a server down)
BACKUP_SERIES = (BACKUP_LAST_SUCCESS, BACKUP_LAST_VERIFIED, BACKUP_SIZE, BACKUP_DURATION)

SECRET_LAST_ROTATION = Gauge(
    "club_secret_last_rotation_timestamp_seconds",
    "Unix time the club's credential in use was issued (rotation.py)",
    ["namespace", "club", "credential"],
)  # credential: jwtSigningKey, redisPassword, ownerPassword, ...
REVOCATION_SECONDS = Gauge(
    "club_secret_revocation_seconds",
    "Seconds from the club's last footballclub.io/revoke request until no pod accepted an old credential",
    ["namespace", "club"],
)

# What the alert rules (club_operator.monitoring) compare against, set by club_metrics.observe after
# each reconcile from the Club's spec and the reconcile's outcome.
CLUB_SUSPENDED = Gauge(
    "club_operator_club_suspended", "1 when the Club is suspended (spec.suspend)", ["namespace", "club"]
)
CLUB_ERRORS = Counter(
    "club_operator_club_reconcile_errors_total",
    "Conditions a reconcile of the club found False for a problem, by reason",
    ["namespace", "club", "reason"],
)  # reason: conditions.Reason values, as ERRORS
BACKUP_SCHEDULED = Gauge(
    "club_backup_scheduled",
    "1 when the club's backups are scheduled (neither the Club nor spec.backup is suspended)",
    ["namespace", "club"],
)
BACKUP_SCHEDULE_INTERVAL = Gauge(
    "club_backup_schedule_interval_seconds",
    "Longest time the club's backup schedule (spec.backup.schedule, UTC) leaves between two runs",
    ["namespace", "club"],
)
BACKUP_NEWEST_FAILED = Gauge(
    "club_backup_newest_failed",
    "1 when the club's newest finished backup failed (its Job did not succeed)",
    ["namespace", "club"],
)
BACKUP_NEWEST_VERIFY_FAILED = Gauge(
    "club_backup_newest_verify_failed",
    "1 when verify restored the club's newest finished backup and found it not whole",
    ["namespace", "club"],
)
DATABASE_CONNECTION_LIMIT = Gauge(
    "club_database_connection_limit",
    "Connections the club's database role may open (spec.database.limits.connectionLimit)",
    ["namespace", "club"],
)
DATABASE_CONNECTIONS = Gauge(
    "club_database_connections",
    "Sessions the club's busiest database login holds on its server (pg_stat_activity, read by"
    " connection_usage.py): the API pools, the workers, the backup Jobs alike",
    ["namespace", "club"],
)
STORAGE_QUOTA = Gauge(
    "club_storage_quota_bytes",
    "The club bucket's quota (spec.storage.quota); no series without one",
    ["namespace", "club"],
)
STORAGE_USED = Gauge(
    "club_storage_used_bytes",
    "Bytes the club's bucket holds, by the S3 server's data usage (storage_usage.py); only with a quota",
    ["namespace", "club"],
)
SECRET_NEXT_ROTATION = Gauge(
    "club_secret_next_rotation_timestamp_seconds",
    "Unix time the club's credential is due to rotate",
    ["namespace", "club", "credential"],
)
SECRET_ROTATION_PHASE = Gauge(
    "club_secret_rotation_phase",
    "1 for the phase the rotation of the club's credential is in (Issued, Propagated, Revoked), else 0",
    ["namespace", "club", "credential", "phase"],
)
WATCH_STALLED = Gauge(
    "club_operator_watch_stalled_clubs", "Clubs the operator's watch has been behind the API server on"
)
_PER_CLUB = (
    CLUB_SUSPENDED,
    BACKUP_SCHEDULED,
    BACKUP_SCHEDULE_INTERVAL,
    BACKUP_NEWEST_FAILED,
    BACKUP_NEWEST_VERIFY_FAILED,
    DATABASE_CONNECTION_LIMIT,
    DATABASE_CONNECTIONS,
    STORAGE_QUOTA,
    STORAGE_USED,
)
# Labelled beyond (namespace, club): a club's series are found by those two labels.
_PER_CLUB_LABELLED: tuple[Gauge | Counter, ...] = (
    SECRET_LAST_ROTATION,
    SECRET_NEXT_ROTATION,
    SECRET_ROTATION_PHASE,
    CLUB_ERRORS,
)


def forget(namespace: str, club: str) -> None:
    """Drop a deleted club's series."""
    every = (ISOLATION_VERIFIED, ISOLATION_PROBE_TIME, CLUB_READY, CLUB_RECONCILES, REVOCATION_SECONDS)
    for series in (*every, *BACKUP_SERIES, *_PER_CLUB):
        with contextlib.suppress(KeyError):
            series.remove(namespace, club)
    for labelled in _PER_CLUB_LABELLED:
        names = labelled._labelnames
        found = {
            tuple(sample.labels[name] for name in names)
            for family in labelled.collect()
            for sample in family.samples
            if sample.labels.get("namespace") == namespace and sample.labels.get("club") == club
        }
        for values in found:
            with contextlib.suppress(KeyError):
                labelled.remove(*values)
