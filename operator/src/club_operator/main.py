"""The only module with kopf decorators: each handler is a thin wrapper around `handlers`.

A Club's status is decided and written in one place, status_writer.report, whatever brings it:
a create, update or resume and the resync timer (`reconcile`, `resync`: the first at once, the
second through the gate of reconcile_threads.py, after them), a change of one of its
Deployments that completes a rollout (handlers.deployment_changed, called by the operator's watched
copy of its Deployments, registered in `configure`: kube_cache.listen), and its deletion (`delete`).

Run with `club-operator` (see __main__.py): it also tells the watched copies which namespaces to cover."""

from __future__ import annotations

import asyncio
import datetime
import logging
from typing import Any

import kopf

from club_operator import (
    club_backups,
    club_restores,
    club_view,
    clubbackups,
    handlers,
    health,
    kube_cache,
    leader,
    naming,
    reconcile_threads,
    resync_gate,
    videojobs,
)
from club_operator.builders import backup_job
from club_operator.club_view import ClubView
from club_operator.config import get_settings

CLUBS = (naming.GROUP, naming.VERSION, naming.CLUB_PLURAL)
VIDEOJOBS = (naming.GROUP, naming.VERSION, videojobs.PLURAL)
CLUBBACKUPS = (naming.GROUP, naming.VERSION, clubbackups.PLURAL)
CLUBRESTORES = (naming.GROUP, naming.VERSION, club_restores.PLURAL)


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Operator-wide settings, in one place."""
    # kopf keeps its bookkeeping in annotations: the Club's status schema is ours alone. Under a
    # prefix of its own: kopf leaves every annotation under its storage prefix out of the diffs it
    # hands to handlers, and footballclub.io/backup-now is a user's request that must be heard.
    settings.persistence.finalizer = naming.FINALIZER
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=naming.KOPF_PREFIX)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=naming.KOPF_PREFIX, key="last-handled-configuration"
    )
    # Only warnings from kopf itself become Events: at INFO every handler success ("Timer resync
    # succeeded") would be a write on every resync. The operator posts its own Events explicitly.
    settings.posting.level = logging.WARNING
    settings.batching.error_delays = [1, 2, 5, 10, 30, 60]
    ours = get_settings()
    handlers.tune(settings, ours)
    kube_cache.listen("apps/v1", "Deployment", handlers.deployment_changed)
    leader.serve_metrics(ours.metrics_port)
    health.start(ours)


@kopf.on.cleanup()
def stop(**_: Any) -> None:
    health.stop()


@kopf.on.event(*CLUBS)
def heard(event: kopf.RawEvent, **_: Any) -> None:
    """Every event the watch delivers, for the stall detector."""
    health.heard(event)


@kopf.on.probe(id="watch")
def watch_alive(**_: Any) -> str:
    """Liveness: fails when the Club watch stopped delivering changes that the API server has."""
    return health.check()


@kopf.on.resume(*CLUBS)
@kopf.on.create(*CLUBS)
@kopf.on.update(*CLUBS)
async def reconcile(body: kopf.Body, **_: Any) -> None:
    """At once, on threads of its own: never behind the other Clubs' resyncs."""
    settings = get_settings()
    await reconcile_threads.on_event(settings, handlers.reconcile_club, body, settings)


def _first_resync(uid: str | None, **_: Any) -> float:
    return resync_gate.first_delay(str(uid), get_settings().resync_interval_sec)


@kopf.timer(*CLUBS, interval=get_settings().resync_interval_sec, initial_delay=_first_resync)
async def resync(body: kopf.Body, **_: Any) -> None:
    """Repair drift and re-run the isolation probe; in steady state this writes nothing. Through the
    gate (resync_gate.py): a few at a time, and after the reconciles of Clubs that changed."""
    settings = get_settings()
    await reconcile_threads.on_resync(settings, handlers.reconcile_club, body, settings)


@kopf.on.delete(*CLUBS)
def delete(body: kopf.Body, runtime: datetime.timedelta, **_: Any) -> None:
    handlers.delete_club(body, runtime, get_settings())


@kopf.index(*CLUBS)
def clubs(namespace: str | None, name: str, body: kopf.Body, **_: Any) -> dict[tuple[str, str], ClubView]:
    """Each Club as its VideoJobs see it, kept current by the Club watch."""
    view = club_view.parse(namespace or "", dict(body), get_settings().shared_database_name)
    return {} if view is None else {(namespace or "", name): view}


@kopf.daemon(*VIDEOJOBS, cancellation_timeout=10)
async def videojob(body: kopf.Body, stopped: kopf.DaemonStopped, **kwargs: Any) -> None:
    """Queue the VideoJob when it can be, mirror its job into status until it finishes.
    `clubs` (the index above) comes in kwargs."""
    await videojobs.follow(body, stopped, kwargs["clubs"], get_settings())


@kopf.on.delete(*VIDEOJOBS)
def videojob_deleted(body: kopf.Body, **kwargs: Any) -> None:
    videojobs.delete(body, kwargs["clubs"], get_settings())


@kopf.daemon(*CLUBBACKUPS, cancellation_timeout=10)
async def clubbackup(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
    """Create the backup's Job when it is the operator's to create, mirror the Job into status
    until the backup is Succeeded or Failed."""
    final = await clubbackups.follow(body, stopped, get_settings())
    if final is not None:
        # Verify and retention at once, without waiting for the Club's next resync.
        await asyncio.to_thread(club_backups.backup_finished, final)


@kopf.on.event("batch", "v1", "jobs", labels={backup_job.TRIGGER_LABEL: "scheduled"})
def scheduled_backup_job(body: kopf.Body, **_: Any) -> None:
    """A Job of a Club's backup CronJob: every one gets a ClubBackup."""
    clubbackups.scheduled_job_seen(body)


@kopf.on.delete(*CLUBBACKUPS)
def clubbackup_deleted(body: kopf.Body, runtime: datetime.timedelta, **_: Any) -> None:
    """Remove the backup's objects from the backup bucket, every version (kept when its Club is
    being deleted: a Club's deletion keeps its backups)."""
    club_backups.delete_objects(body, runtime.total_seconds(), get_settings())


@kopf.daemon(*CLUBRESTORES, cancellation_timeout=10)
async def clubrestore(body: kopf.Body, stopped: kopf.DaemonStopped, **_: Any) -> None:
    """Roll the Club back to its backup: safety backup, suspend, restore, resume (club_restores.py);
    an operator restarted mid-way goes on from the phase recorded in status."""
    await club_restores.follow(body, stopped, get_settings())
