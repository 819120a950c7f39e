"""The pure parts of a club's backup storage: the backup writer's policy, its names, its Secret, and
the folder the operator grants against the one the runtime writes to."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from club_operator import backup_storage, credentials, naming, storage_policy
from club_operator.config import OperatorSettings
from club_operator.models import ClubSpec
from club_runtime import contract

TENANT = uuid.UUID("0b5e8c7e-0000-4000-8000-000000000001")
FOLDER = backup_storage.club_folder(TENANT)
SPEC = ClubSpec.model_validate({"displayName": "R"})
NAMES = naming.build_names("team-a", "riverside", SPEC, "clubs")
OWNER = credentials.Owner("footballclub.io/v1alpha1", "Club", "riverside", str(TENANT))

_NAMESPACE = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
_NAME = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?", fullmatch=True)


def test_the_writer_may_add_read_and_list_only_in_its_folder_and_never_delete() -> None:
    policy = storage_policy.build_backup_policy("club-backups", FOLDER)

    grants = {
        resource: sorted(statement["Action"])
        for statement in policy["Statement"]
        for resource in statement["Resource"]
    }
    assert grants == {
        f"arn:aws:s3:::club-backups/clubs/{TENANT}/*": [
            "s3:AbortMultipartUpload",
            "s3:GetObject",
            "s3:ListMultipartUploadParts",
            "s3:PutObject",
        ],
        "arn:aws:s3:::club-backups": ["s3:ListBucket"],
    }
    (listing,) = [s for s in policy["Statement"] if s["Action"] == ["s3:ListBucket"]]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": [FOLDER, f"{FOLDER}*"]}}
    assert not any("Delete" in action for s in policy["Statement"] for action in s["Action"])
    assert {statement["Effect"] for statement in policy["Statement"]} == {"Allow"}


def test_the_writers_policy_echoed_in_another_order_is_equal_and_another_folder_is_not() -> None:
    desired = storage_policy.build_backup_policy("club-backups", FOLDER)
    echoed = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "s3:ListBucket",
                "Resource": "arn:aws:s3:::club-backups",
                "Condition": {"StringLike": {"s3:prefix": [f"{FOLDER}*", FOLDER]}},
            },
            {
                "Effect": "Allow",
                "Action": list(reversed(storage_policy.BACKUP_OBJECT_ACTIONS)),
                "Resource": [f"arn:aws:s3:::club-backups/{FOLDER}*"],
            },
        ],
    }
    assert storage_policy.policy_equal(echoed, desired)
    other = storage_policy.build_backup_policy("club-backups", backup_storage.club_folder(uuid.uuid4()))
    assert not storage_policy.policy_equal(other, desired)
    assert not storage_policy.resources_of(other) <= storage_policy.resources_of(desired)
    # The club's own bucket policy has no condition: normalising it is unchanged by the new rule.
    assert storage_policy.policy_equal(
        storage_policy.build_user_policy("club-a"), storage_policy.build_user_policy("club-a")
    )


def test_the_folder_granted_holds_every_object_the_runtime_writes_for_the_club() -> None:
    for key in (
        contract.backup_manifest(backup_storage.PREFIX, TENANT, "cbk-1"),
        contract.backup_table(backup_storage.PREFIX, TENANT, "cbk-1", "players"),
    ):
        assert key.startswith(FOLDER)
    assert f"clubs/{TENANT}/" == FOLDER


def test_the_backup_secret_names_the_bucket_prefix_and_the_writers_credentials() -> None:
    secret = credentials.build_backup_secret(
        NAMES,
        OWNER,
        endpoint="http://minio:9000",
        region="us-east-1",
        bucket="club-backups",
        prefix=backup_storage.PREFIX,
        secret_key="s3cret",
    )
    assert secret["metadata"]["name"] == "riverside-backup" == NAMES.backup_secret
    assert secret["metadata"]["labels"] == NAMES.labels()
    assert secret["metadata"]["ownerReferences"] == [OWNER.reference()]
    assert secret["stringData"] == {
        "endpoint": "http://minio:9000",
        "region": "us-east-1",
        "bucket": "club-backups",
        "prefix": "clubs/",
        "accessKey": NAMES.backup_s3_user,
        credentials.BACKUP_SECRET_KEY: "s3cret",
    }


def test_the_backup_bucket_is_a_setting_with_a_default() -> None:
    assert OperatorSettings().backup_bucket == "club-backups"
    assert OperatorSettings(backup_bucket="backups-eu").backup_bucket == "backups-eu"


def test_a_plan_never_shows_its_secret() -> None:
    plan = backup_storage.BackupPlan("club-backups", FOLDER, "u", "hunter2-secret", "p")
    assert "hunter2-secret" not in repr(plan)


@given(_NAMESPACE, _NAME, _NAMESPACE, _NAME)
def test_a_backup_writer_is_no_other_clubs_user_nor_another_clubs_writer(
    namespace: str, name: str, other_namespace: str, other_name: str
) -> None:
    mine = naming.build_names(namespace, name, SPEC, "clubs")
    other = naming.build_names(other_namespace, other_name, SPEC, "clubs")
    assert mine.backup_s3_user != other.s3_user
    assert mine.backup_s3_policy != other.s3_policy
    if (namespace, name) != (other_namespace, other_name):
        assert mine.backup_s3_user != other.backup_s3_user


def test_a_legacy_clubs_backup_writer_follows_its_kept_s3_user() -> None:
    legacy = naming.build_names("team-a", "x", SPEC, "clubs", provisioned_role="club_team_a_x")
    assert legacy.s3_user == "club-team-a-x"
    assert legacy.backup_s3_user == "club-team-a-x--backup"
