"""`club-runtime backup | verify | restore`: each reads the club and the backup bucket from the
environment (settings.py), prints one JSON object on stdout saying what it did, and exits non-zero
with the reason (on stderr, and as `error` in that object) when it could not.

Each command imports what it uses only: a backup needs neither alembic nor SQLAlchemy (restores
check schema revisions with them), which saves it half a second and 30 MiB."""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from typing import Any

from club_runtime import contract
from club_runtime.backup import manifest
from club_runtime.settings import Settings


class UsageError(RuntimeError):
    """A setting the command needs is missing or malformed."""


def add_parsers(sub: Any) -> None:
    backup = sub.add_parser("backup", help="back the club's rows up to the backup bucket (BACKUP_S3_*)")
    backup.add_argument("--backup-id", default=None, help="default: BACKUP_ID, else one named by the time")
    backup.add_argument(
        "--report-file",
        default=None,
        help="also write the JSON result here (in a Job: /dev/termination-log, which the operator reads)",
    )
    backup.set_defaults(run=run_backup)
    check = sub.add_parser("verify", help="restore a backup into a scratch database and check it")
    check.add_argument("--backup-id", default=None, help="default: BACKUP_ID")
    check.set_defaults(run=run_verify)
    back = sub.add_parser("restore", help="replace the club's rows with a backup's (DATABASE_ADMIN_URL)")
    back.add_argument("--backup-id", default=None, help="default: BACKUP_ID")
    back.add_argument(
        "--from-club",
        default=None,
        help="whose backup (default: BACKUP_CLUB_ID, else CLUB_ID); another club's makes CLUB_ID its clone",
    )
    back.set_defaults(run=run_restore)


def run_backup(args: argparse.Namespace, settings: Settings) -> int:
    from club_runtime.backup import snapshot, store

    def action() -> dict[str, Any]:
        request = snapshot.BackupRequest(
            club_id=_club_id(settings.club_id, "CLUB_ID"),
            dsn=_required(settings.database_url.get_secret_value(), "DATABASE_URL"),
            backup_id=manifest.valid_backup_id(
                args.backup_id or settings.backup_id or snapshot.default_backup_id()
            ),
            compression_level=settings.backup_compression_level,
        )
        bucket = store.connect(settings)
        taken = snapshot.take(request, bucket)
        return {
            "backupId": taken.backup_id,
            "clubId": str(taken.club_id),
            "manifest": f"s3://{bucket.bucket}/"
            + contract.backup_manifest(bucket.prefix, taken.club_id, taken.backup_id),
            "schemaRevision": taken.schema_revision,
            "rows": taken.rows,
            "compressedBytes": taken.compressed_bytes,
            "seconds": round((taken.finished_at - taken.started_at).total_seconds(), 3),
            "tables": {t.name: t.rows for t in taken.tables},
        }

    return _report(
        "backup", action, (snapshot.BackupError, store.BackupStoreError), report_file=args.report_file
    )


def run_verify(args: argparse.Namespace, settings: Settings) -> int:
    from club_runtime.backup import store, verify

    def action() -> dict[str, Any]:
        admin = (
            settings.backup_verify_admin_url.get_secret_value()
            or settings.database_admin_url.get_secret_value()
        )
        result = verify.verify(
            _required(admin, "BACKUP_VERIFY_ADMIN_URL or DATABASE_ADMIN_URL"),
            store.connect(settings),
            _club_id(settings.backup_club_id or settings.club_id, "CLUB_ID"),
            _backup_id(args, settings),
        )
        return {
            "backupId": result.backup_id,
            "clubId": str(result.club_id),
            "verified": True,
            "restoreSeconds": round(result.restore_seconds, 3),
            "tables": result.rows,
        }

    return _report(
        "verify", action, (verify.VerifyFailed, store.BackupStoreError), failed={"verified": False}
    )


def run_restore(args: argparse.Namespace, settings: Settings) -> int:
    from club_runtime.backup import restore, store

    def action() -> dict[str, Any]:
        target = _club_id(settings.club_id, "CLUB_ID")
        request = restore.RestoreRequest(
            admin_dsn=_required(settings.database_admin_url.get_secret_value(), "DATABASE_ADMIN_URL"),
            source_club=_club_id(
                args.from_club or settings.backup_club_id or settings.club_id, "BACKUP_CLUB_ID"
            ),
            target_club=target,
            backup_id=_backup_id(args, settings),
        )
        loaded = restore.restore(request, store.connect(settings))
        return {
            "backupId": request.backup_id,
            "fromClubId": str(request.source_club),
            "clubId": str(target),
            "seconds": round(loaded.seconds, 3),
            "tables": loaded.rows,
        }

    return _report("restore", action, (restore.RestoreError, store.BackupStoreError))


def _report(
    command: str,
    action: Any,
    expected: tuple[type[Exception], ...],
    failed: dict[str, Any] | None = None,
    report_file: str | None = None,
) -> int:
    catch: tuple[type[Exception], ...] = (UsageError, ValueError, *expected)
    try:
        result = action()
    except catch as exc:
        print(f"club-runtime {command}: {exc}", file=sys.stderr)
        _print_report({**(failed or {}), "error": str(exc)}, report_file)
        return 1
    _print_report(result, report_file)
    return 0


# What a container's termination message may hold (the kubelet cuts the rest).
_TERMINATION_MESSAGE_MAX = 4096


def _print_report(result: dict[str, Any], report_file: str | None) -> None:
    """The result on stdout and, when asked, in `report_file`. There it is cut to what a termination
    message holds: without the per-table row counts first, then the error's tail."""
    text = json.dumps(result)
    print(text)
    if report_file is None:
        return
    if len(text.encode()) > _TERMINATION_MESSAGE_MAX:
        text = json.dumps({k: v for k, v in result.items() if k != "tables"})
    if len(text.encode()) > _TERMINATION_MESSAGE_MAX and "error" in result:
        text = json.dumps({**result, "tables": None, "error": str(result["error"])[-3000:]})
    try:
        with open(report_file, "w", encoding="utf-8") as out:
            out.write(text)
    except OSError as exc:
        print(f"club-runtime: could not write the report to {report_file}: {exc}", file=sys.stderr)


def _required(value: str, name: str) -> str:
    if not value:
        raise UsageError(f"{name} is not set")
    return value


def _club_id(value: str, name: str) -> uuid.UUID:
    try:
        return uuid.UUID(_required(value, name))
    except ValueError as exc:
        raise UsageError(f"{name} {value!r} is not a UUID") from exc


def _backup_id(args: argparse.Namespace, settings: Settings) -> str:
    return manifest.valid_backup_id(
        _required(args.backup_id or settings.backup_id, "--backup-id or BACKUP_ID")
    )
