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


def forget(namespace: str, club: str) -> None:
    """Drop a deleted club's series."""
    every = (ISOLATION_VERIFIED, ISOLATION_PROBE_TIME, CLUB_READY, CLUB_RECONCILES, REVOCATION_SECONDS)
    for series in (*every, *BACKUP_SERIES):
        with contextlib.suppress(KeyError):
            series.remove(namespace, club)
    credentials = {
        sample.labels["credential"]
        for family in SECRET_LAST_ROTATION.collect()
        for sample in family.samples
        if sample.labels.get("namespace") == namespace and sample.labels.get("club") == club
    }
    for credential in credentials:
        with contextlib.suppress(KeyError):
            SECRET_LAST_ROTATION.remove(namespace, club, credential)
