"""What each kopf handler does, without the decorators (those live in main.py): reconcile a Club and
report what it found, settle a rollout when one of its Deployments changes, and clean up on
deletion. Every status write goes through status_writer.report."""

from __future__ import annotations

import concurrent.futures
import contextvars
import dataclasses
import datetime
import logging
import time
from collections.abc import Mapping
from typing import Any

import kopf
import pydantic

from club_operator import (
    backup_storage,
    club,
    club_metrics,
    club_servers,
    connection_usage,
    database,
    kube,
    metrics,
    naming,
    ownership,
    pg_owners,
    rollouts,
    status,
    status_writer,
    storage,
    storage_usage,
)
from club_operator.club import ClubObject, Context
from club_operator.conditions import Reason
from club_operator.config import OperatorSettings
from club_operator.models import DeletionPolicy
from club_operator.outcome import Outcome
from club_operator.reconcile import parse, reconcile
from club_operator.workloads import delete_redis_user

log = logging.getLogger(__name__)

# Reports of completed rollouts run here, one at a time, so that the Deployments' watch never waits
# for a Club's lock (held through a whole reconcile).
_settler = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rollout-settle")
# The context of a Club handler's run: posting an Event (kube.event) needs kopf's event queue,
# which kopf puts in the context of the handlers it runs (the same queue for every object), and the
# settler's thread is not one of kopf's. Taken on every reconcile, before any Club can wait.
_kopf_context: list[contextvars.Context] = []


def tune(settings: kopf.OperatorSettings, ours: OperatorSettings) -> None:
    """kopf's execution settings for this operator (called from the startup handler)."""
    settings.execution.max_workers = ours.max_workers


def reconcile_club(body: kopf.Body, settings: OperatorSettings) -> None:
    """Bring the Club's resources to its spec and report; the status is written only where it changed."""
    _kopf_context[:] = [contextvars.copy_context()]
    found = club.from_body(body)
    with status_writer.lock(found.uid):
        with metrics.RECONCILE_SECONDS.time():
            outcome, whole_at, whole = _reconcile(found, settings)
        for problem in status.problems(outcome):
            metrics.ERRORS.labels(str(problem.reason)).inc()
        club_metrics.observe(found, outcome)
        status_writer.report(found, outcome, body, whole_at=whole_at)
        if outcome.waits_only_for_rollout:
            # A Deployment that finished while the status was written, before the Club was known to
            # wait, found nothing to settle: settle it now from the copy, which already holds it.
            settled = _settled(found.namespace, outcome)
            if not settled.rolling_out:
                status_writer.report(found, dataclasses.replace(settled, changes=[]), None, whole_at=whole_at)
                outcome = settled
        if whole:
            metrics.CLUB_RECONCILES.labels(found.namespace, found.name).inc()
    storage_usage.observe(found, settings)  # outside the lock: it may wait for the S3 server
    connection_usage.observe(found, settings)  # so may this for the database server
    if outcome.permanent:
        metrics.RECONCILES.labels("permanent_error").inc()
        raise kopf.PermanentError(outcome.permanent)
    if outcome.temporary:
        metrics.RECONCILES.labels("temporary_error").inc()
        raise kopf.TemporaryError("; ".join(outcome.temporary), delay=settings.retry_delay_sec)
    if outcome.rolling_out:
        # Done for now: a change of one of its Deployments settles the rollout (deployment_changed).
        metrics.RECONCILES.labels("rolling_out").inc()
        return
    metrics.RECONCILES.labels("changed" if outcome.changes else "unchanged").inc()


def _reconcile(found: ClubObject, settings: OperatorSettings) -> tuple[Outcome, float, bool]:
    """A whole reconcile, or only the rollout's check when that is all a recent one left pending.
    Returns the outcome, when the whole reconcile it stands on ran (time.monotonic()), and whether
    one ran now: one still runs at least every resync interval, so drift is repaired as often while
    a rollout drags on."""
    key = (found.namespace, found.name)
    waiting = status_writer.waiting(*key)
    if (
        waiting is not None
        and waiting.club.uid == found.uid
        and waiting.club.generation == found.generation
        and time.monotonic() - waiting.at < settings.resync_interval_sec
    ):
        return _settled(found.namespace, waiting.outcome), waiting.at, False
    outcome = reconcile(found, settings)
    if outcome.waits_only_for_rollout:
        # The rollout may have completed since this reconcile read the Deployments.
        outcome = _settled(found.namespace, outcome)
    return outcome, time.monotonic(), True


def _settled(namespace: str, waiting: Outcome) -> Outcome:
    """`waiting` settled against its Deployments as the watched copy holds them (no request)."""
    found = (kube.read_object("apps/v1", "Deployment", namespace, name) for name in waiting.rolling_out)
    return rollouts.settle(waiting, (rollouts.rollout_of(live) for live in found if live is not None))


def deployment_changed(deployment: Mapping[str, Any]) -> None:
    """A version of one of the operator's Deployments, as the Deployments' watched copy takes it in
    (kube_cache.listen; on the watch's thread, the copy already holding it). If its Club waits for its
    rollout and the rollout is now complete, report that. Most versions concern a Club that waits
    for nothing, or a rollout not complete yet: those are answered here; a report is handed to
    the settler (it waits for the Club's lock and writes)."""
    meta = deployment.get("metadata") or {}
    key = (str(meta.get("namespace") or ""), str((meta.get("labels") or {}).get(naming.CLUB_LABEL, "")))
    waiting = status_writer.waiting(*key)
    if waiting is None or _settled(key[0], waiting.outcome).rolling_out:
        return
    if _kopf_context:
        _settler.submit(_kopf_context[0].copy().run, _settle, key)


def _settle(key: tuple[str, str]) -> None:
    try:
        waiting = status_writer.waiting(*key)
        if waiting is None:
            return
        with status_writer.lock(waiting.club.uid):
            waiting = status_writer.waiting(*key)  # a reconcile may have run meanwhile
            if waiting is None:
                return
            settled = _settled(key[0], waiting.outcome)
            if not settled.rolling_out:
                status_writer.report(waiting.club, settled, None, whole_at=waiting.at)
    except Exception:
        # The next resync reconciles the Club whole, and settles it then.
        log.exception("settling the rollout of Club %s/%s failed", *key)


def delete_club(body: kopf.Body, runtime: datetime.timedelta, settings: OperatorSettings) -> None:
    """Honour deletionPolicy. A server that is gone is retried with backoff, then given up on with a
    Warning Event, so that it never blocks the deletion forever."""
    found = club.from_body(body)
    with status_writer.lock(found.uid):
        status_writer.deleting(found, body)
    try:
        ctx = parse(found, settings)
    except pydantic.ValidationError:
        kube.event(
            body,
            warning=True,
            reason=str(Reason.INVALID_SPEC),
            message="the spec cannot be parsed; nothing was cleaned up",
        )
        _forget(found)
        return
    redis_problem = delete_redis_user(ctx)
    if redis_problem and runtime.total_seconds() < settings.deletion_give_up_after_sec:
        raise kopf.TemporaryError(redis_problem, delay=settings.retry_delay_sec)
    if redis_problem:
        kube.event(body, warning=True, reason=str(Reason.CLEANUP_ABANDONED), message=redis_problem[:1000])
    # Under either deletionPolicy: the backups stay, the credentials that wrote them go.
    backup_problem, backup_kept = _delete_backup_access(ctx)
    if backup_kept:
        kept_message = "left " + ", ".join(backup_kept) + ", which this Club does not own"
        kube.event(body, warning=True, reason=str(Reason.CONFLICT), message=kept_message)
    if backup_problem and runtime.total_seconds() < settings.deletion_give_up_after_sec:
        raise kopf.TemporaryError(backup_problem, delay=settings.retry_delay_sec)
    if backup_problem:
        kube.event(body, warning=True, reason=str(Reason.CLEANUP_ABANDONED), message=backup_problem[:1000])
    if ctx.spec.deletion_policy is DeletionPolicy.RETAIN:
        kube.event(
            body,
            warning=False,
            reason=str(Reason.RETAINED),
            message=f"deletionPolicy Retain: database {ctx.names.database} (role {ctx.names.role}) "
            f"and bucket {ctx.names.bucket} are kept",
        )
        _forget(found)
        return
    with status_writer.lock(found.uid):
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
    _forget(found)


def _forget(found: ClubObject) -> None:
    metrics.forget(found.namespace, found.name)
    status_writer.forget(found)


def _delete_data(ctx: Context) -> tuple[list[str], list[str]]:
    """Drop what the Club owns. Returns the problems met and what was left because another Club
    (or none) owns it: a Club in Conflict never removes what it was refused."""
    problems: list[str] = []
    kept: list[str] = []
    names = ctx.names
    try:
        server = club_servers.database_server(ctx.spec, names.namespace, ctx.settings)
        tenant = database.Tenant(
            ctx.club.club_id, names.slug, names.database, names.role, "", ctx.spec.database.dedicated
        )
        kept += pg_owners.drop_owned(server, tenant, ctx.club.uid)
    except (
        club_servers.ServerNotConfigured,
        database.InvalidServer,
        database.DatabaseUnavailable,
        database.DatabaseFailed,
    ) as exc:
        problems.append(f"database: {exc}")
    try:
        s3 = club_servers.storage_server(ctx.spec, names.namespace, ctx.settings)
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
        club_servers.ServerNotConfigured,
        kube.InvalidSecret,
        storage.StorageUnavailable,
        storage.StorageConflict,
    ) as exc:
        problems.append(f"storage: {exc}")
    return problems, kept


def _delete_backup_access(ctx: Context) -> tuple[str | None, list[str]]:
    """Remove the club's backup writer (backup_storage.py), keeping its backups. Returns the problem
    met, if any, and what was left because it is not the Club's own."""
    names = ctx.names
    try:
        server = club_servers.storage_server(ctx.spec, names.namespace, ctx.settings)
        plan = backup_storage.BackupPlan(
            bucket=ctx.settings.backup_bucket,
            folder=backup_storage.club_folder(ctx.club.tenant_id or ctx.club.uid),
            user=names.backup_s3_user,
            secret_key="",
            policy_name=names.backup_s3_policy,
        )
        return None, backup_storage.delete_backup_access(server, plan)
    except (
        club_servers.ServerNotConfigured,
        kube.InvalidSecret,
        storage.StorageUnavailable,
        storage.StorageConflict,
    ) as exc:
        return f"backup storage: {exc}", []
