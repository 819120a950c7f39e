"""The bucket's policy and lifecycle documents, and the comparisons that keep steady state write-free."""

from __future__ import annotations

from club_operator import storage_policy


def test_the_user_policy_allows_exactly_the_bucket_and_its_objects() -> None:
    policy = storage_policy.build_user_policy("club-a")

    grants = {
        resource: sorted(statement["Action"])
        for statement in policy["Statement"]
        for resource in statement["Resource"]
    }
    assert grants == {
        "arn:aws:s3:::club-a": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
        "arn:aws:s3:::club-a/*": [
            "s3:AbortMultipartUpload",
            "s3:DeleteObject",
            "s3:GetObject",
            "s3:ListMultipartUploadParts",
            "s3:PutObject",
        ],
    }
    assert {statement["Effect"] for statement in policy["Statement"]} == {"Allow"}


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
