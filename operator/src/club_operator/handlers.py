"""What each kopf handler does, without the decorators (those live in main.py): reconcile a Club,
report the outcome as status and Events, and clean up on deletion."""

from __future__ import annotations

import datetime
import logging
import time

import kopf
import pydantic

from club_operator import (
    database,
    kube,
    metrics,
    naming,
    ownership,
    pg_owners,
    publish,
    rollouts,
    servers,
    storage,
)
from club_operator.conditions import Reason
from club_operator.config import OperatorSettings
from club_operator.models import ClubPhase, DeletionPolicy
from club_operator.outcome import ClubObject, Context, Outcome
from club_operator.reconcile import parse, recheck_rollout, reconcile
from club_operator.workloads import delete_redis_user

log = logging.getLogger(__name__)


def club_object(body: kopf.Body) -> ClubObject:
    meta = body["metadata"]
    return ClubObject(
        namespace=meta["namespace"],
        name=meta["name"],
        uid=meta["uid"],
        generation=int(meta.get("generation") or 1),
        spec=dict(body.get("spec") or {}),
        api_version=body.get("apiVersion", f"{naming.GROUP}/{naming.VERSION}"),
        provisioned_role=(body.get("status") or {}).get("databaseRole"),
        tenant_id=(body.get("status") or {}).get("tenantId"),
    )


def tune(settings: kopf.OperatorSettings, ours: OperatorSettings) -> None:
    """kopf's execution settings for this operator (called from the startup handler)."""
    settings.execution.max_workers = ours.max_workers


def reconcile_club(body: kopf.Body, settings: OperatorSettings) -> None:
    """Bring the Club's resources to its spec; write status only where it changed."""
    club = club_object(body)
    rollouts.start(settings)
    with rollouts.lock(club.uid):
        with metrics.RECONCILE_SECONDS.time():
            outcome, whole_at = _reconcile(club, settings)
        for cond in outcome.conditions:
            if not cond.status:
                metrics.ERRORS.labels(str(cond.reason)).inc()
        status = publish.publish(club, outcome, publish.current_status(dict(body)))
        if outcome.rolling_out and not outcome.temporary and outcome.permanent is None:
            # Done for now: the rollout watcher writes WorkloadsReady when the Deployments are.
            rollouts.wait(club, outcome, status, whole_at)
    if outcome.permanent:
        metrics.RECONCILES.labels("permanent_error").inc()
        raise kopf.PermanentError(outcome.permanent)
    if outcome.temporary:
        metrics.RECONCILES.labels("temporary_error").inc()
        raise kopf.TemporaryError("; ".join(outcome.temporary), delay=settings.retry_delay_sec)
    if outcome.rolling_out:
        metrics.RECONCILES.labels("rolling_out").inc()
        return
    metrics.RECONCILES.labels("changed" if outcome.changes else "unchanged").inc()


def _reconcile(club: ClubObject, settings: OperatorSettings) -> tuple[Outcome, float]:
    """A whole reconcile, or only the rollout check when that is all a recent one left pending.
    Returns the outcome and when the whole reconcile it stands on ran (time.monotonic()): one still
    runs at least every resync interval, so drift is repaired as often while a rollout drags on."""
    waiting = rollouts.take(club, settings.resync_interval_sec)
    if waiting is not None:
        outcome = recheck_rollout(club, settings, waiting.outcome)
        if outcome is not None:
            return outcome, waiting.at
    return reconcile(club, settings), time.monotonic()


def delete_club(
    body: kopf.Body, patch: kopf.Patch, runtime: datetime.timedelta, settings: OperatorSettings
) -> None:
    """Honour deletionPolicy. A server that is gone is retried with backoff, then given up on with a
    Warning Event, so that it never blocks the deletion forever."""
    club = club_object(body)
    rollouts.drop(club)
    publish.forget(club.uid)
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
    redis_problem = delete_redis_user(ctx)
    if redis_problem and runtime.total_seconds() < settings.deletion_give_up_after_sec:
        raise kopf.TemporaryError(redis_problem, delay=settings.retry_delay_sec)
    if redis_problem:
        kube.event(body, warning=True, reason=str(Reason.CLEANUP_ABANDONED), message=redis_problem[:1000])
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
    with rollouts.lock(club.uid):
        problems, kept = _delete_data(ctx)
    if kept:
        kube.event(
            body,
            warning=True,
            reason=str(Reason.CONFLICT),
            message="deletionPolicy Delete: left " + ", ".join(kept) + ", which this Club does not own",
        )
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


def _delete_data(ctx: Context) -> tuple[list[str], list[str]]:
    """Drop what the Club owns. Returns the problems met and what was left because another Club
    (or none) owns it: a Club in Conflict never removes what it was refused."""
    problems: list[str] = []
    kept: list[str] = []
    names = ctx.names
    try:
        server = servers.database_server(ctx.spec, names.namespace, ctx.settings)
        tenant = database.Tenant(
            ctx.club.club_id, names.slug, names.database, names.role, "", ctx.spec.database.dedicated
        )
        kept += pg_owners.drop_owned(server, tenant, ctx.club.uid)
    except (
        servers.ServerNotConfigured,
        database.InvalidServer,
        database.DatabaseUnavailable,
        database.DatabaseFailed,
    ) as exc:
        problems.append(f"database: {exc}")
    try:
        s3 = servers.storage_server(ctx.spec, names.namespace, ctx.settings)
        kept += storage.delete_storage(
            s3,
            storage.StoragePlan(
                bucket=names.bucket,
                user=names.s3_user,
                secret_key="",
                policy_name=names.s3_policy,
                quota_bytes=None,
                temporary_prefix="tmp/",
                temporary_expire_days=1,
                owner=ownership.Owner(names.namespace, names.name, ctx.club.uid, ctx.club.uid),
            ),
        )
    except (
        servers.ServerNotConfigured,
        kube.InvalidSecret,
        storage.StorageUnavailable,
        storage.StorageConflict,
    ) as exc:
        problems.append(f"storage: {exc}")
    return problems, kept
