"""The Club reconcile's backup steps: the club's backup writer and its Secret (backup_storage.py),
and its backup CronJob with the ClubBackup a backup-now annotation asks for (clubbackups.py)."""

from __future__ import annotations

from club_operator import (
    backup_storage,
    club_servers,
    clubbackups,
    credentials,
    cron,
    kube,
    ownership,
    secret_writes,
    storage,
)
from club_operator.builders import backup_job
from club_operator.club import Context
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome


def ensure_backup_storage(ctx: Context, out: Outcome) -> None:
    """The backup bucket on the club's S3 server and the club's backup writer (backup_storage.py),
    with its Secret for the backup Jobs. Only once the database step has confirmed the tenant id:
    it names the club's folder, and a guess would have to be taken back; and on a server the club's
    own storage step reached. Reported in StorageReady."""
    names = ctx.names
    found = {c.type: c for c in out.conditions}
    database_ready, storage_ready = found.get(Type.DATABASE_READY), found.get(Type.STORAGE_READY)
    if not (database_ready and database_ready.status and storage_ready and storage_ready.status):
        return
    # The server ensure_storage reached.
    server = club_servers.storage_server(ctx.spec, names.namespace, ctx.settings)
    existing = kube.read_secret(names.namespace, names.backup_secret)
    secret_key = (existing or {}).get(credentials.BACKUP_SECRET_KEY) or credentials.generate_password()
    plan = backup_storage.BackupPlan(
        bucket=ctx.settings.backup_bucket,
        folder=backup_storage.club_folder(ctx.club.tenant_id or ctx.club.uid),
        user=names.backup_s3_user,
        secret_key=secret_key,
        policy_name=names.backup_s3_policy,
    )
    # The Secret before the user: a crash between the two leaves a secret the next reconcile applies.
    secret_writes.write(
        credentials.build_backup_secret(
            names,
            ctx.club.owner,
            endpoint=server.endpoint,
            region=server.region,
            bucket=plan.bucket,
            prefix=backup_storage.PREFIX,
            secret_key=secret_key,
        ),
        out,
        frozenset({credentials.BACKUP_SECRET_KEY}),
        existing,
    )
    try:
        result = backup_storage.ensure_backup_storage(server, plan)
    except ownership.Conflict as exc:
        out.condition(Type.STORAGE_READY, False, Reason.CONFLICT, str(exc))
        return
    except storage.StorageUnavailable as exc:
        out.failed(Type.STORAGE_READY, Reason.SERVER_UNAVAILABLE, str(exc))
        return
    except storage.StorageConflict as exc:
        out.failed(Type.STORAGE_READY, Reason.CONFLICT, str(exc))
        return
    for what in result.changed:
        out.changed("storage", f"wrote S3 backup {what} for {names.backup_s3_user}")
    where = f"s3://{plan.bucket}/{plan.folder}"
    message = f"{storage_ready.message}; backups in {where}, written by a user of its own that cannot delete"
    out.condition(Type.STORAGE_READY, True, storage_ready.reason, message)


def ensure_backup_schedule(ctx: Context, out: Outcome) -> None:
    """The Club's backup CronJob (builders/backup_job.py: suspended while the Club or its backups
    are), and the ClubBackup its footballclub.io/backup-now annotation asks for (clubbackups.py)."""
    # A schedule the CronJob's own validation would refuse, or one that never runs, never reaches it.
    problem = cron.schedule_problem(ctx.spec.backup.schedule)
    if problem is not None:
        message = f"spec.backup.schedule {ctx.spec.backup.schedule!r} cannot be used: {problem}"
        out.condition(Type.WORKLOADS_READY, False, Reason.INVALID_SPEC, message)
        out.permanent = message
        return
    club = ctx.club
    tenant = str(out.fields.get("tenantId") or club.tenant_id or club.uid)
    inputs = clubbackups.backup_inputs(ctx.names, ctx.spec, club.owner, tenant, ctx.settings)
    # The Secrets the Jobs read exist (once written they stay, whatever a server's outage).
    names = ctx.names
    ready = all(
        name in out.secrets or kube.read_secret(names.namespace, name) is not None
        for name in (names.database_secret, names.backup_secret)
    )
    cronjob = backup_job.build_cronjob(inputs, secrets_ready=ready)
    if kube.apply_object(cronjob):
        out.changed("backup", f"applied CronJob {cronjob['metadata']['name']}")
    handled = clubbackups.ensure_requested(club)
    if handled is not None:
        out.fields["lastBackupRequest"] = handled
        out.changed("backup", f"asked for a backup ({club.backup_request})")
