"""Where a ClubBackup's objects lie, and which verify failures are a verdict on the backup (recorded
as verified: false) and which only say that a server could not be reached (retried later)."""

from __future__ import annotations

import psycopg
import pytest

from club_operator import backup_objects, backup_verify
from club_runtime.backup import restore, store, verify

TENANT = "5b0e7a52-1c1e-4d3c-9a43-0d5f2b7c9e11"


def test_a_reported_manifest_names_the_folder() -> None:
    where = backup_objects.locate(
        f"s3://club-backups/clubs/{TENANT}/nightly-1/manifest.json",
        bucket="other",
        club_id=TENANT,
        backup_id="ignored",
    )
    assert where == backup_objects.Location("club-backups", f"clubs/{TENANT}/nightly-1/")


@pytest.mark.parametrize(
    "manifest",
    [None, "", "s3://club-backups/manifest.json", "https://x/clubs/a/manifest.json", "s3:///x/manifest.json"],
)
def test_without_a_usable_manifest_the_folder_is_where_the_job_writes(manifest: str | None) -> None:
    where = backup_objects.locate(manifest, bucket="club-backups", club_id=TENANT, backup_id="b-1")
    assert where == backup_objects.Location("club-backups", f"clubs/{TENANT}/b-1/")


def _failed(cause: BaseException) -> verify.VerifyFailed:
    try:
        try:
            raise cause
        except BaseException as exc:
            raise verify.VerifyFailed(str(exc)) from exc
    except verify.VerifyFailed as failed:
        return failed


def _wrapped(inner: BaseException) -> BaseException:
    try:
        try:
            raise inner
        except BaseException as exc:
            raise restore.RestoreError(f"restoring failed: {exc}") from exc
    except restore.RestoreError as outer:
        return outer


@pytest.mark.parametrize(
    ("cause", "could_not_run"),
    [
        (store.BackupStoreError("reading x failed: EndpointConnectionError"), True),
        (psycopg.OperationalError("connection refused"), True),
        (_wrapped(psycopg.OperationalError("server closed the connection")), True),
        (store.BackupMissing("reading x: no such object"), False),
        (restore.RestoreError("table players: sha256 differs from the manifest"), False),
        (_wrapped(psycopg.errors.BadCopyFileFormat("missing data for column")), False),
        (ValueError("the manifest is not valid"), False),
    ],
)
def test_only_an_unreachable_server_is_no_verdict(cause: BaseException, could_not_run: bool) -> None:
    assert backup_verify._could_not_run(_failed(cause)) is could_not_run
