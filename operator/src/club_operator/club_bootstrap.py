"""`spec.bootstrap.fromBackup`: a new Club starts from a backup of another Club of its namespace.

A step of the Club's reconcile, after the database step has provisioned the club's tenant (its
role, its row in `clubs`, the schema) and before its workloads are first deployed: the backup's
rows are restored into the club's own tenant by the runtime's engine (backup_restore.py, in the
operator, with the server's admin credentials), which gives every row the new club's id and remaps
every key uuid, so the clone shares no row id with the original and row-level security keeps the
two apart. `status.bootstrap` records that it is done; it never runs again.

Until then the Club's workloads wait (WorkloadsReady False, WaitingForBootstrap) and condition
Bootstrapped says why: a backup that does not exist yet, is not Succeeded, or (where the source
Club verifies its backups) not verified yet is waited for and retried; one that can never be used
(failed, failed by verify, another Club's) is InvalidSpec. A crash after the restore committed but
before the status was written restores the same backup again on the next reconcile: no workload
has run, so nothing is lost."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pydantic

from club_operator import backup_record, backup_restore, club_servers, clubbackups, database, kube, naming
from club_operator.club import Context
from club_operator.conditions import Reason, Type
from club_operator.models import ClubSpec
from club_operator.outcome import Outcome

STATUS_FIELD = "bootstrap"


def ensure_bootstrap(ctx: Context, out: Outcome) -> bool:  # noqa: PLR0911 - one return per outcome
    """Restore the backup spec.bootstrap names, once. Returns whether the club's workloads may be
    deployed (no bootstrap asked for, or it is done)."""
    source = ctx.spec.bootstrap.from_backup if ctx.spec.bootstrap else None
    if source is None:
        return True
    done = ctx.club.bootstrapped
    if done:
        out.fields[STATUS_FIELD] = done
        out.condition(Type.BOOTSTRAPPED, True, Reason.RESTORED, _done_message(done))
        return True
    found = {c.type: c for c in out.conditions}.get(Type.DATABASE_READY)
    if found is None or not found.status:
        _waiting(out, "the restore needs the club's database to be ready")
        return False
    if source.club_name == ctx.names.name:
        _refuse(
            out, "spec.bootstrap.fromBackup names this Club itself: a new Club starts from another's backup"
        )
        return False
    request = _request(ctx, out, source.club_name, source.backup_name)
    if request is None:
        return False
    try:
        loaded = backup_restore.run_waiting(request)
    except backup_restore.RestoreUnavailable as exc:
        out.failed(Type.BOOTSTRAPPED, Reason.SERVER_UNAVAILABLE, str(exc))
        _waiting(out, "the restore of spec.bootstrap.fromBackup could not run yet")
        return False
    except backup_restore.RestoreFailed as exc:
        _refuse(out, f"restoring ClubBackup {source.backup_name} of Club {source.club_name}: {exc}")
        return False
    done = {
        "clubName": source.club_name,
        "backupName": source.backup_name,
        "rows": sum(loaded.rows.values()),
        "completionTime": backup_record.format_time(datetime.datetime.now(datetime.UTC)),
    }
    out.fields[STATUS_FIELD] = done
    out.changed("bootstrap", _done_message(done))
    out.condition(Type.BOOTSTRAPPED, True, Reason.RESTORED, _done_message(done))
    return True


def _request(ctx: Context, out: Outcome, club_name: str, backup_name: str) -> backup_restore.Request | None:
    namespace = ctx.names.namespace
    other = kube.read_custom(naming.CLUB_PLURAL, namespace, club_name)
    tenant = str(((other or {}).get("status") or {}).get("tenantId") or "")
    if other is None or not tenant:
        _not_yet(out, f"Club {club_name} does not exist or has no tenant id yet")
        return None
    try:
        other_spec = ClubSpec.model_validate(other.get("spec") or {})
    except pydantic.ValidationError:
        _not_yet(out, f"the spec of Club {club_name} cannot be used")
        return None
    found = kube.read_custom(clubbackups.PLURAL, namespace, backup_name)
    wrong = backup_restore.problem(found, backup_name, club_name, need_verified=other_spec.backup.verify)
    if wrong is not None or found is None:
        message = wrong.message if wrong else f"ClubBackup {backup_name} does not exist"
        if wrong is not None and wrong.permanent:
            _refuse(out, f"spec.bootstrap.fromBackup: {message}")
        else:
            _not_yet(out, message)
        return None
    record = backup_record.parse(found)
    try:
        return backup_restore.Request(
            database=club_servers.database_server(ctx.spec, namespace, ctx.settings),
            database_name=ctx.names.database,
            # The backup bucket on the S3 server of the Club whose backup it is.
            storage=club_servers.storage_server(other_spec, namespace, ctx.settings),
            where=backup_restore.locate(record, bucket=ctx.settings.backup_bucket, source_club=tenant),
            source_club=uuid.UUID(tenant),
            target_club=uuid.UUID(str(out.fields.get("tenantId") or ctx.club.tenant_id or ctx.club.uid)),
            backup_id=backup_restore.backup_id(record),
        )
    except (club_servers.ServerNotConfigured, database.InvalidServer) as exc:
        _not_yet(out, f"the servers of the restore: {exc}")
        return None


def _done_message(done: dict[str, Any]) -> str:
    return (
        f"started from ClubBackup {done.get('backupName')} of Club {done.get('clubName')} "
        f"({done.get('rows')} rows, ids remapped)"
    )


def _waiting(out: Outcome, message: str) -> None:
    out.condition(Type.WORKLOADS_READY, False, Reason.WAITING_FOR_BOOTSTRAP, message)


def _not_yet(out: Outcome, message: str) -> None:
    out.failed(Type.BOOTSTRAPPED, Reason.BACKUP_NOT_READY, message)
    _waiting(out, f"waiting for spec.bootstrap.fromBackup: {message}")


def _refuse(out: Outcome, message: str) -> None:
    out.condition(Type.BOOTSTRAPPED, False, Reason.INVALID_SPEC, message)
    _waiting(out, message)
    out.permanent = message
