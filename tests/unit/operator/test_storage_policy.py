"""The bucket's policy and lifecycle documents, and the comparisons that keep steady state write-free."""

from __future__ import annotations

from club_operator import storage_policy


def test_the_user_policy_allows_exactly_the_bucket_and_its_objects() -> None:
    policy = storage_policy.build_user_policy("club-a")

    grants = {
        resource: sorted(statement["Action"])
        for statement in policy["Statement"]
        if statement["Effect"] == "Allow"
        for resource in statement["Resource"]
    }
    assert grants == {
        "arn:aws:s3:::club-a": [
            "s3:GetBucketLocation",
            "s3:ListBucket",
            "s3:ListBucketMultipartUploads",
            "s3:ListBucketVersions",
        ],
        "arn:aws:s3:::club-a/*": [
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:GetObjectVersion",
            "s3:ListMultipartUploadParts",
            "s3:PutObject",
        ],
    }
    denied = [statement for statement in policy["Statement"] if statement["Effect"] != "Allow"]
    assert denied == [
        {"Effect": "Deny", "Action": ["s3:DeleteObjectVersion"], "Resource": ["arn:aws:s3:::club-a/*"]}
    ]


def test_a_policy_echoed_in_another_order_or_with_single_strings_is_equal() -> None:
    desired = storage_policy.build_user_policy("club-a")
    echoed = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": list(reversed(storage_policy.OBJECT_ACTIONS)),
                "Resource": "arn:aws:s3:::club-a/*",
            },
            {"Effect": "Deny", "Action": "s3:DeleteObjectVersion", "Resource": "arn:aws:s3:::club-a/*"},
            {
                "Effect": "Allow",
                "Action": sorted(storage_policy.BUCKET_ACTIONS),
                "Resource": ["arn:aws:s3:::club-a"],
            },
        ],
    }
    assert storage_policy.policy_equal(echoed, desired)


def test_a_wider_or_other_bucket_policy_differs() -> None:
    desired = storage_policy.build_user_policy("club-a")
    assert not storage_policy.policy_equal(storage_policy.build_user_policy("club-b"), desired)
    wider = storage_policy.build_user_policy("club-a")
    wider["Statement"][1]["Action"].append("s3:PutBucketPolicy")
    assert not storage_policy.policy_equal(wider, desired)
    without_deny = storage_policy.build_user_policy("club-a")
    without_deny["Statement"] = [st for st in without_deny["Statement"] if st["Effect"] == "Allow"]
    assert not storage_policy.policy_equal(without_deny, desired)


def test_lifecycle_rule_expires_the_temporary_prefix() -> None:
    [rule] = storage_policy.build_lifecycle_rules("tmp/", 7, abort_uploads=True)
    assert rule["Filter"] == {"Prefix": "tmp/"}
    assert rule["Expiration"] == {"Days": 7}
    assert rule["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 7}
    assert (
        "AbortIncompleteMultipartUpload"
        not in storage_policy.build_lifecycle_rules("tmp/", 7, abort_uploads=False)[0]
    )


def test_lifecycle_comparison() -> None:
    desired = storage_policy.build_lifecycle_rules("tmp/", 7, abort_uploads=False)
    assert storage_policy.lifecycle_equal([dict(desired[0])], desired)
    assert not storage_policy.lifecycle_equal([], desired)
    assert not storage_policy.lifecycle_equal(
        storage_policy.build_lifecycle_rules("tmp/", 8, abort_uploads=False), desired
    )


def test_earlier_versions_can_be_read_but_never_deleted_by_the_club() -> None:
    actions = {
        (statement["Effect"], action)
        for statement in storage_policy.build_user_policy("club-a")["Statement"]
        for action in statement["Action"]
    }
    assert {("Allow", "s3:GetObjectVersion"), ("Allow", "s3:ListBucketVersions")} <= actions
    # MinIO lets s3:DeleteObject delete a given version unless this is denied outright.
    assert ("Deny", "s3:DeleteObjectVersion") in actions
    allowed = {
        action
        for statement in storage_policy.build_user_policy("club-a")["Statement"]
        if statement["Effect"] == "Allow"
        for action in statement["Action"]
    }
    assert not {action for action in allowed if "Version" in action and "Delete" in action}
    assert "s3:PutBucketVersioning" not in allowed
    assert "s3:PutLifecycleConfiguration" not in allowed


def test_noncurrent_versions_expire_over_the_whole_bucket_next_to_the_temporary_rule() -> None:
    rules = storage_policy.build_lifecycle_rules("tmp/", 7, abort_uploads=False, noncurrent_expire_days=30)
    assert [rule["ID"] for rule in rules] == [
        storage_policy.TEMPORARY_RULE_ID,
        storage_policy.NONCURRENT_RULE_ID,
    ]
    noncurrent = rules[1]
    assert noncurrent["Filter"] == {"Prefix": ""}
    assert noncurrent["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    # A delete marker left with no version behind it goes too; current objects never expire here.
    assert noncurrent["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert rules[0] == storage_policy.build_lifecycle_rules("tmp/", 7, abort_uploads=False)[0]


def test_lifecycle_comparison_sees_the_noncurrent_rule() -> None:
    desired = storage_policy.build_lifecycle_rules("tmp/", 7, abort_uploads=False, noncurrent_expire_days=30)
    echoed = [dict(rule) for rule in reversed(desired)]  # the server's order may differ
    assert storage_policy.lifecycle_equal(echoed, desired)
    assert not storage_policy.lifecycle_equal(desired[:1], desired)
    assert not storage_policy.lifecycle_equal(
        storage_policy.build_lifecycle_rules("tmp/", 7, abort_uploads=False, noncurrent_expire_days=31),
        desired,
    )
