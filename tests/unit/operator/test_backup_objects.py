"""Which folder a ClubBackup's deletion may remove: the one backup's own, never more of the club's
backups. The manifest's place comes from the backup Job's report, written by the club's runtime
image with the club's backup credentials, which may write but never delete."""

from __future__ import annotations

import pytest

from club_operator import backup_objects

TENANT = "5b0e7a52-1c1e-4d3c-9a43-0d5f2b7c9e11"
BUCKET = "club-backups"


def test_the_backups_own_folder_may_be_deleted() -> None:
    where = backup_objects.locate(
        f"s3://{BUCKET}/clubs/{TENANT}/nightly-1/manifest.json", bucket=BUCKET, club_id=TENANT, backup_id="x"
    )
    assert backup_objects.own_folder(where, bucket=BUCKET, club_id=TENANT, backup_id="nightly-1")


@pytest.mark.parametrize(
    "manifest",
    [
        # The club's whole folder: every backup it has.
        f"s3://{BUCKET}/clubs/{TENANT}/manifest.json",
        # Another backup of the club's.
        f"s3://{BUCKET}/clubs/{TENANT}/nightly-0/manifest.json",
        # Deeper or elsewhere.
        f"s3://{BUCKET}/clubs/{TENANT}/nightly-1/x/manifest.json",
        f"s3://{BUCKET}/clubs/{TENANT}-other/nightly-1/manifest.json",
        f"s3://other-bucket/clubs/{TENANT}/nightly-1/manifest.json",
    ],
)
def test_a_reported_manifest_never_widens_what_a_deletion_removes(manifest: str) -> None:
    where = backup_objects.locate(manifest, bucket=BUCKET, club_id=TENANT, backup_id="nightly-1")
    assert not backup_objects.own_folder(where, bucket=BUCKET, club_id=TENANT, backup_id="nightly-1")
