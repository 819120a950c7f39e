"""The per-club series the alert rules read, set from a Club's spec and a reconcile's outcome
(club_metrics.py), and bucket sizes read from MinIO's data usage answer (storage_usage.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from prometheus_client import REGISTRY

from club_operator import club_metrics, metrics, redis_target, rotation, storage_usage
from club_operator.club import ClubObject
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome
from club_runtime.api import state_metrics


def _club(name: str, **spec: Any) -> ClubObject:
    return ClubObject(
        namespace="ns", name=name, uid=f"uid-{name}", generation=1, spec={"displayName": "FC", **spec}
    )


def _value(metric: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(metric, labels)


def test_spec_series() -> None:
    club_metrics.observe(
        _club(
            "spec",
            storage={"quota": "10Gi"},
            database={"limits": {"connectionLimit": 20}},
            backup={"suspend": True},
        ),
        Outcome(),
    )
    labels = {"namespace": "ns", "club": "spec"}
    assert _value("club_operator_club_suspended", **labels) == 0
    assert _value("club_backup_scheduled", **labels) == 0
    assert _value("club_database_connection_limit", **labels) == 20
    assert _value("club_storage_quota_bytes", **labels) == 10 * 1024**3

    club_metrics.observe(_club("spec", suspend=True), Outcome())
    assert _value("club_operator_club_suspended", **labels) == 1
    assert _value("club_backup_scheduled", **labels) == 0
    assert _value("club_storage_quota_bytes", **labels) is None  # no quota: no series


def test_backup_results_follow_the_newest_backups_condition() -> None:
    labels = {"namespace": "ns", "club": "backups"}
    for reason, failed, verify_failed in (
        (Reason.BACKUP_FAILED, 1, 0),
        (Reason.VERIFY_FAILED, 0, 1),
    ):
        out = Outcome()
        out.condition(Type.LAST_BACKUP_SUCCEEDED, False, reason, "the newest backup")
        club_metrics.observe(_club("backups"), out)
        assert _value("club_backup_newest_failed", **labels) == failed
        assert _value("club_backup_newest_verify_failed", **labels) == verify_failed
    club_metrics.observe(_club("backups"), Outcome())  # a reconcile that stopped early: left as they were
    assert _value("club_backup_newest_verify_failed", **labels) == 1
    out = Outcome()
    out.condition(Type.LAST_BACKUP_SUCCEEDED, True, Reason.VERIFIED, "verified")
    club_metrics.observe(_club("backups"), out)
    assert _value("club_backup_newest_failed", **labels) == 0
    assert _value("club_backup_newest_verify_failed", **labels) == 0


def test_rotation_phase_and_next_rotation() -> None:
    issued = datetime(2026, 1, 1, tzinfo=UTC)
    due = datetime(2026, 1, 31, tzinfo=UTC)
    record = rotation.Record(rotation.Phase.ISSUED, "k2", "k1", issued, due, "interval")
    out = Outcome(fields={"rotation": {rotation.JWT_SIGNING_KEY: record.to_status()}})
    club_metrics.observe(_club("rotating"), out)
    labels = {"namespace": "ns", "club": "rotating", "credential": rotation.JWT_SIGNING_KEY}
    assert _value("club_secret_next_rotation_timestamp_seconds", **labels) == due.timestamp()
    assert _value("club_secret_rotation_phase", **labels, phase="Issued") == 1
    assert _value("club_secret_rotation_phase", **labels, phase="Propagated") == 0
    assert _value("club_secret_rotation_phase", **labels, phase="Revoked") == 0


def test_problems_count_per_club_and_reason() -> None:
    out = Outcome()
    out.condition(Type.DATABASE_READY, False, Reason.SERVER_UNAVAILABLE, "down")
    labels = {"namespace": "ns", "club": "erring", "reason": "ServerUnavailable"}
    before = _value("club_operator_club_reconcile_errors_total", **labels) or 0
    club_metrics.observe(_club("erring"), out)
    assert _value("club_operator_club_reconcile_errors_total", **labels) == before + 1


def test_forget_drops_every_series_of_the_club() -> None:
    record = rotation.Record(
        rotation.Phase.REVOKED,
        "k1",
        None,
        datetime(2026, 1, 1, tzinfo=UTC),
        datetime(2026, 2, 1, tzinfo=UTC),
        "",
    )
    out = Outcome(fields={"rotation": {rotation.REDIS_PASSWORD: record.to_status()}})
    out.condition(Type.DATABASE_READY, False, Reason.SERVER_UNAVAILABLE, "down")
    club_metrics.observe(_club("gone", storage={"quota": "1Gi"}), out)
    metrics.forget("ns", "gone")
    left = [
        sample
        for family in REGISTRY.collect()
        for sample in family.samples
        if sample.labels.get("namespace") == "ns" and sample.labels.get("club") == "gone"
    ]
    assert left == []


def test_bucket_sizes_from_minios_data_usage() -> None:
    usage = {
        "bucketsCount": 2,
        "bucketsUsageInfo": {"club-a": {"size": 1024, "objectsCount": 3}, "club-b": {}},
    }
    assert storage_usage.sizes_from(usage) == {"club-a": 1024}
    assert storage_usage.sizes_from({}) == {}
    assert storage_usage.sizes_from(None) == {}


def test_the_api_reports_every_queue_the_operator_enqueues_videos_on() -> None:
    video = redis_target.queue_name("ns", "fc", "video")
    reported = set(state_metrics.queue_names(redis_target.queue_name("ns", "fc", "default"), video))
    for gpu in (True, False):
        assert set(redis_target.video_queues(video, gpu_workers=gpu)) <= reported
    for priority in ("high", "normal", "low"):
        for gpu_required in (True, False):
            queue, _ = redis_target.video_queue_for(video, priority=priority, gpu_required=gpu_required)
            assert queue in reported


def test_backup_schedule_interval_follows_the_schedule() -> None:
    labels = {"namespace": "ns", "club": "weekly"}
    club_metrics.observe(_club("weekly"), Outcome())  # the default: daily
    assert _value("club_backup_schedule_interval_seconds", **labels) == 86400
    club_metrics.observe(_club("weekly", backup={"schedule": "0 4 * * 6"}), Outcome())
    assert _value("club_backup_schedule_interval_seconds", **labels) == 7 * 86400
    # A range that runs backwards: no CronJob runs it (InvalidSpec), so no interval either.
    club_metrics.observe(_club("weekly", backup={"schedule": "0 4 * * 5-2"}), Outcome())
    assert _value("club_backup_schedule_interval_seconds", **labels) is None
    club_metrics.observe(_club("weekly"), Outcome())
    metrics.forget("ns", "weekly")
    assert _value("club_backup_schedule_interval_seconds", **labels) is None
