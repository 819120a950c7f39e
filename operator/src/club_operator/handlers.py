"""What each kopf handler does, without the decorators (those live in main.py): reconcile a Club,
report the outcome as status and Events, and clean up on deletion."""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import kopf
import pydantic

from club_operator import database, kube, metrics, naming, servers, storage
from club_operator import status as club_status
from club_operator.conditions import Reason
from club_operator.config import OperatorSettings
from club_operator.models import ClubPhase, DeletionPolicy
from club_operator.outcome import ClubObject, Context, Outcome
from club_operator.reconcile import parse, recheck_rollout, reconcile

log = logging.getLogger(__name__)

# Handlers and the resync timer of one Club never run at the same time.
_locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)


@dataclass(frozen=True)
class _RollingOut:
    """A whole reconcile that found nothing left to do but wait for the Deployments' rollout."""

    generation: int
    outcome: Outcome
    at: float  # time.monotonic()


# By Club uid, only while its rollout is pending. While it is, the handler's retries read just the
# Deployments instead of every Secret, the database, the isolation probe and the bucket again;
# a whole reconcile still runs at least every resync interval, so drift is repaired as often.
_rolling_out: dict[str, _RollingOut] = {}


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def club_object(body: kopf.Body) -> ClubObject:
    meta = body["metadata"]
    return ClubObject(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta["uid"],
        generation=int(meta.get("generation") or 1),
        spec=dict(body.get("spec") or {}),
        api_version=body.get("apiVersion", f"{naming.GROUP}/{naming.VERSION}"),
    )


def tune(settings: kopf.OperatorSettings, ours: OperatorSettings) -> None:
    """kopf's execution settings for this operator (called from the startup handler)."""
    settings.execution.max_workers = ours.max_workers


def reconcile_club(body: kopf.Body, patch: kopf.Patch, settings: OperatorSettings) -> None:
    """Bring the Club's resources to its spec; write status only where it changed."""
    club = club_object(body)
    with _locks[club.uid], metrics.RECONCILE_SECONDS.time():
        outcome = _reconcile(club, settings)
    for cond in outcome.conditions:
        if not cond.status:
            metrics.ERRORS.labels(str(cond.reason)).inc()
    current: dict[str, Any] = dict(body.get("status") or {})
    desired = club_status.build_status(current, outcome, club.generation, _now())
    for key, value in club_status.changed_fields(current, desired).items():
        patch.status[key] = value
    _report(body, club, outcome, current, desired)
    if outcome.permanent:
        metrics.RECONCILES.labels("permanent_error").inc()
        raise kopf.PermanentError(outcome.permanent)
    if outcome.temporary:
        metrics.RECONCILES.labels("temporary_error").inc()
        raise kopf.TemporaryError("; ".join(outcome.temporary), delay=settings.retry_delay_sec)
    if outcome.rolling_out:
        metrics.RECONCILES.labels("rolling_out").inc()
        raise kopf.TemporaryError("waiting for the workloads to roll out", delay=settings.rollout_poll_sec)
    metrics.RECONCILES.labels("changed" if outcome.changes else "unchanged").inc()


def _reconcile(club: ClubObject, settings: OperatorSettings) -> Outcome:
    """A whole reconcile, or only the rollout check when that is all that was pending."""
    pending = _rolling_out.pop(club.uid, None)
    if (
        pending is not None
        and pending.generation == club.generation
        and time.monotonic() - pending.at < settings.resync_interval_sec
    ):
        outcome = recheck_rollout(club, settings, pending.outcome)
        if outcome is not None:
            if outcome.rolling_out:
                _rolling_out[club.uid] = pending
            return outcome
    outcome = reconcile(club, settings)
    if outcome.rolling_out and not outcome.temporary and outcome.permanent is None:
        _rolling_out[club.uid] = _RollingOut(club.generation, outcome, time.monotonic())
    return outcome


def _report(
    body: kopf.Body, club: ClubObject, outcome: Outcome, current: dict[str, Any], desired: dict[str, Any]
) -> None:
    for kind, _ in outcome.changes:
        metrics.WRITES.labels(kind).inc()
    for message in _grouped(outcome.changes):
        kube.event(body, warning=False, reason="Provisioned", message=message)
    for moved in club_status.transitions(current, desired):
        kube.event(
            body,
            warning=moved.warning,
            reason=f"{moved.type}{moved.status}",
            message=f"{moved.reason}: {moved.message}" if moved.message else moved.reason,
        )
    if outcome.permanent:
        kube.event(body, warning=True, reason=str(Reason.INVALID_SPEC), message=outcome.permanent)
    ready = desired["phase"] == ClubPhase.READY
    metrics.CLUB_READY.labels(club.namespace, club.name).set(1 if ready else 0)


# One Event per part of a reconcile rather than per object written: a new Club is some 25 writes,
# and each Event is one more write to the API server.
_EVENT_GROUPS = {"schema": "database", "canary": "database", "role": "database"}


def _grouped(changes: list[tuple[str, str]]) -> list[str]:
    groups: dict[str, list[str]] = {}
    for kind, message in changes:
        groups.setdefault(_EVENT_GROUPS.get(kind, kind), []).append(message)
    return ["; ".join(messages) for messages in groups.values()]


def delete_club(
    body: kopf.Body, patch: kopf.Patch, runtime: datetime.timedelta, settings: OperatorSettings
) -> None:
    """Honour deletionPolicy. A server that is gone is retried with backoff, then given up on with a
    Warning Event, so that it never blocks the deletion forever."""
    club = club_object(body)
    _rolling_out.pop(club.uid, None)
    patch.status["phase"] = str(ClubPhase.DELETING)
    try:
        ctx = parse(club, settings)
    except pydantic.ValidationError:
        kube.event(
            body,
            warning=True,
            reason=str(Reason.INVALID_SPEC),
            message="the spec cannot be parsed; nothing was cleaned up",
        )
        metrics.forget(club.namespace, club.name)
        return
    if ctx.spec.deletion_policy is DeletionPolicy.RETAIN:
        kube.event(
            body,
            warning=False,
            reason="Retained",
            message=f"deletionPolicy Retain: database {ctx.names.database} (role {ctx.names.role}) "
            f"and bucket {ctx.names.bucket} are kept",
        )
        metrics.forget(club.namespace, club.name)
        return
    with _locks[club.uid]:
        problems = _delete_data(ctx)
    if problems and runtime.total_seconds() < settings.deletion_give_up_after_sec:
        raise kopf.TemporaryError("; ".join(problems), delay=settings.retry_delay_sec)
    if problems:
        kube.event(
            body,
            warning=True,
            reason=str(Reason.CLEANUP_ABANDONED),
            message=f"gave up after {runtime.total_seconds():.0f}s, data may remain: " + "; ".join(problems),
        )
    metrics.forget(club.namespace, club.name)


def _delete_data(ctx: Context) -> list[str]:
    problems: list[str] = []
    names = ctx.names
    try:
        server = servers.database_server(ctx.spec, names.namespace, ctx.settings)
        tenant = database.Tenant(
            ctx.club.club_id, names.slug, names.database, names.role, "", ctx.spec.database.dedicated
        )
        database.drop_tenant(server, tenant)
    except (
        servers.ServerNotConfigured,
        database.InvalidServer,
        database.DatabaseUnavailable,
        database.DatabaseFailed,
    ) as exc:
        problems.append(f"database: {exc}")
    try:
        s3 = servers.storage_server(ctx.spec, names.namespace, ctx.settings)
        storage.delete_storage(
            s3,
            storage.StoragePlan(
                bucket=names.bucket,
                user=names.s3_user,
                secret_key="",
                policy_name=names.s3_policy,
                quota_bytes=None,
                temporary_prefix="tmp/",
                temporary_expire_days=1,
            ),
        )
    except (servers.ServerNotConfigured, storage.StorageUnavailable, storage.StorageConflict) as exc:
        problems.append(f"storage: {exc}")
    return problems
