"""Fleet: every Club the operator runs (by condition, Ready or not), the operator's reconciles (how
long, how many, the problems they found per club), and each club's backups and credential rotations.
The namespace variable picks one namespace, several, or all."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from club_operator.monitoring import alerts
from club_operator.monitoring.dashboards.panels import (
    NAMESPACES,
    RATE,
    Query,
    Row,
    board,
    fleet_variables,
    graph,
)
from club_operator.monitoring.dashboards.panels import single as stat

UID = "club-fleet"
BY_CLUB = "namespace, club"
EACH = "{{namespace}}/{{club}}"


def _clubs() -> Row:
    return Row(
        "Clubs",
        [
            graph(
                "Clubs by condition",
                "How many Clubs have each condition True or False.",
                "short",
                Query("sum by (condition, status) (club_operator_clubs)", "{{condition}} {{status}}"),
            ),
            graph(
                "Ready per club",
                "1 while the Club's Ready condition is True. 0 for 15 minutes: ClubNotReady.",
                "short",
                Query(f"max by ({BY_CLUB}) (club_operator_club_ready{{{NAMESPACES}}})", EACH),
            ),
            stat(
                "Operator",
                "Operator pods answering scrapes, and whether one of them runs the handlers (leader).",
                "short",
                Query(f'sum(up{{job="{alerts.OPERATOR_JOB}"}})', "pods up"),
                Query("max(club_operator_leader)", "leader"),
                width=12,
            ),
            stat(
                "Operator behind",
                "Clubs whose latest spec waits for a reconcile, and Clubs the watch has been behind the API "
                "server on (ClubOperatorWatchStalled).",
                "short",
                Query("max(club_operator_pending_reconciles)", "reconciles pending"),
                Query("max(club_operator_watch_stalled_clubs)", "watch behind"),
                width=12,
            ),
        ],
    )


def _reconciles() -> Row:
    return Row(
        "Reconciles",
        [
            graph(
                "Reconcile duration",
                "How long one reconcile of a Club takes.",
                "s",
                *(
                    Query(
                        f"histogram_quantile({q}, sum by (le) "
                        f"(rate(club_operator_reconcile_duration_seconds_bucket[{RATE}])))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.95)
                ),
            ),
            graph(
                "Reconciles per second by outcome",
                "unchanged, changed, rolling out, or an error (temporary: retried; permanent: a bad spec).",
                "ops",
                Query(f"sum by (outcome) (rate(club_operator_reconciles_total[{RATE}]))", "{{outcome}}"),
            ),
            graph(
                "Problems found per club",
                "Conditions the club's reconciles found False for a problem, per second (0 while they "
                "find none). Every reconcile for 15 minutes: ClubReconcileErrors.",
                "ops",
                Query(
                    f"sum by ({BY_CLUB}) "
                    f"(rate(club_operator_club_reconcile_errors_total{{{NAMESPACES}}}[{RATE}]))"
                    "\nor\n"
                    f"0 * sum by ({BY_CLUB}) "
                    f"(rate(club_operator_club_whole_reconciles_total{{{NAMESPACES}}}[{RATE}]))",
                    EACH,
                ),
            ),
        ],
    )


def _backups() -> Row:
    return Row(
        "Backups",
        [
            graph(
                "Age of the newest successful backup",
                "The newest success's age per club, and the age at which ClubBackupTooOld fires: "
                f"{alerts.BACKUP_AGE_FACTOR:g} times the longest interval of the club's backup schedule, "
                f"plus {alerts.BACKUP_AGE_SLACK_SECONDS // 60} minutes.",
                "s",
                Query(
                    f"time() - max by ({BY_CLUB}) "
                    f"(club_backup_last_success_timestamp_seconds{{{NAMESPACES}}})",
                    EACH,
                ),
                Query(
                    f"{alerts.BACKUP_AGE_FACTOR:g} * max by ({BY_CLUB}) "
                    f"(club_backup_schedule_interval_seconds{{{NAMESPACES}}})"
                    f" + {alerts.BACKUP_AGE_SLACK_SECONDS}",
                    f"{EACH} alert threshold",
                ),
            ),
            graph(
                "Newest backup failed",
                "1 when the club's newest finished backup failed (ClubBackupFailed) or failed its verify "
                "(ClubBackupVerifyFailed).",
                "short",
                Query(f"max by ({BY_CLUB}) (club_backup_newest_failed{{{NAMESPACES}}})", f"{EACH} failed"),
                Query(
                    f"max by ({BY_CLUB}) (club_backup_newest_verify_failed{{{NAMESPACES}}})",
                    f"{EACH} verify failed",
                ),
            ),
            graph(
                "Size of the newest backup",
                "Compressed size of the club's newest successful backup.",
                "bytes",
                Query(f"max by ({BY_CLUB}) (club_backup_size_bytes{{{NAMESPACES}}})", EACH),
            ),
            graph(
                "Backups verified by result",
                "Backups restored into a scratch database and compared with their manifest: passed, "
                "failed, or could not run (error).",
                "ops",
                Query(f"sum by (result) (rate(club_backup_verifies_total[{RATE}]))", "{{result}}"),
            ),
        ],
    )


def _rotations() -> Row:
    by = f"{BY_CLUB}, credential"
    each = f"{EACH} {{{{credential}}}}"
    return Row(
        "Credential rotations",
        [
            graph(
                "Age of each credential in use",
                "Time since the credential the club's pods use was issued.",
                "s",
                Query(
                    f"time() - max by ({by}) (club_secret_last_rotation_timestamp_seconds{{{NAMESPACES}}})",
                    each,
                ),
            ),
            graph(
                "Time until each credential's next rotation",
                "Negative: overdue. An hour overdue for 15 minutes: ClubSecretRotationOverdue.",
                "s",
                Query(
                    f"min by ({by}) (club_secret_next_rotation_timestamp_seconds{{{NAMESPACES}}}) - time()",
                    each,
                ),
            ),
            graph(
                "Rotation phase of each credential",
                "The phase each credential's rotation is in (Issued, Propagated, Revoked). In Issued for an "
                "hour: ClubSecretRotationStuck.",
                "short",
                Query(
                    f"max by ({by}, phase) (club_secret_rotation_phase{{{NAMESPACES}}}) == 1",
                    f"{each} {{{{phase}}}}",
                ),
            ),
        ],
    )


def build() -> dashboard.Dashboard:
    return board(
        UID,
        "Club fleet",
        "Every Club the operator runs: conditions, reconciles, backups and credential rotations.",
        fleet_variables(),
        [_clubs(), _reconciles(), _backups(), _rotations()],
    )
