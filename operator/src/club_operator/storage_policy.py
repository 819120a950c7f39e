"""Desired-state documents for a club's bucket (its access policy and its lifecycle rules) and for
its backup writer (its policy on the shared backup bucket).

Pure builders and comparisons, no I/O. The storage module reads what the server holds, compares it
with these documents through the `*_equal` functions, and writes only what differs. Servers echo
documents back in their own canonical form (MinIO sorts actions, turns a single string into a
list), so equality is taken on a normalised form rather than on the raw JSON.
"""

from __future__ import annotations

import json
from typing import Any

POLICY_VERSION = "2012-10-17"
TEMPORARY_RULE_ID = "club-temporary-uploads"
NONCURRENT_RULE_ID = "club-noncurrent-versions"

# The club's own bucket is versioned: its user may list and read earlier versions (to bring back
# a deleted or overwritten video by copying the version over it) but never delete a version, so
# within the window of spec.storage.noncurrentVersionExpireDays what the club's credentials delete
# or overwrite stays recoverable. MinIO lets s3:DeleteObject delete a given version too unless
# s3:DeleteObjectVersion is denied outright: hence an explicit Deny (VERSION_DENIED_ACTIONS).
BUCKET_ACTIONS = (
    "s3:GetBucketLocation",
    "s3:ListBucket",
    "s3:ListBucketMultipartUploads",
    "s3:ListBucketVersions",
)
OBJECT_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:GetObject",
    "s3:GetObjectVersion",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)
VERSION_DENIED_ACTIONS = ("s3:DeleteObjectVersion",)

# A club's backup writer (build_backup_policy): multipart uploads are s3:PutObject too.
BACKUP_OBJECT_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:GetObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)


def bucket_arn(bucket: str) -> str:
    return f"arn:aws:s3:::{bucket}"


def build_user_policy(bucket: str) -> dict[str, Any]:
    """The club's identity policy: its own bucket and the objects in it, nothing else; earlier
    versions of its objects can be read but not deleted."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Action": list(BUCKET_ACTIONS),
                "Resource": [bucket_arn(bucket)],
            },
            {
                "Effect": "Allow",
                "Action": list(OBJECT_ACTIONS),
                "Resource": [f"{bucket_arn(bucket)}/*"],
            },
            {
                "Effect": "Deny",
                "Action": list(VERSION_DENIED_ACTIONS),
                "Resource": [f"{bucket_arn(bucket)}/*"],
            },
        ],
    }


def build_backup_policy(bucket: str, prefix: str) -> dict[str, Any]:
    """A club's backup writer: add objects under `prefix` (the club's folder, ending in '/') of the
    shared backup bucket, read them back and list them; nothing else. No s3:DeleteObject (nor
    s3:DeleteObjectVersion): in a versioned bucket an overwrite keeps the earlier version, so what
    was written stays recoverable with these credentials. Listing the bucket is allowed only with
    a prefix inside the folder, so another club's folders cannot even be named."""
    return {
        "Version": POLICY_VERSION,
        "Statement": [
            {
                "Effect": "Allow",
                "Action": list(BACKUP_OBJECT_ACTIONS),
                "Resource": [f"{bucket_arn(bucket)}/{prefix}*"],
            },
            {
                "Effect": "Allow",
                "Action": ["s3:ListBucket"],
                "Resource": [bucket_arn(bucket)],
                "Condition": {"StringLike": {"s3:prefix": [prefix, f"{prefix}*"]}},
            },
        ],
    }


def build_lifecycle_rules(
    prefix: str, expire_days: int, *, abort_uploads: bool, noncurrent_expire_days: int | None = None
) -> list[dict[str, Any]]:
    """Rules in the shape boto3's put/get_bucket_lifecycle_configuration use: temporary objects
    under `prefix` expire after `expire_days`; with `noncurrent_expire_days`, a second rule over
    the whole bucket (versioned) removes a version that many days after a newer version or a
    delete marker replaced it, and then the delete marker left alone with no version behind it.

    `abort_uploads` adds AbortIncompleteMultipartUpload to the rule. MinIO accepts that element
    and silently drops it (it aborts stale multipart uploads itself, after `api
    stale_uploads_expiry`, 24 hours by default), so asking for it there would make every
    comparison differ and every reconcile write.
    """
    rule: dict[str, Any] = {
        "ID": TEMPORARY_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": prefix},
        "Expiration": {"Days": expire_days},
    }
    if abort_uploads:
        rule["AbortIncompleteMultipartUpload"] = {"DaysAfterInitiation": expire_days}
    if noncurrent_expire_days is None:
        return [rule]
    noncurrent = {
        "ID": NONCURRENT_RULE_ID,
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "Expiration": {"ExpiredObjectDeleteMarker": True},
        "NoncurrentVersionExpiration": {"NoncurrentDays": noncurrent_expire_days},
    }
    return [rule, noncurrent]


def _as_sorted_list(value: Any) -> list[Any]:
    items = value if isinstance(value, list) else [value]
    return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))


def normalise_policy(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The statements of a policy with every list sorted and single values made lists (conditions'
    values too)."""
    statements = []
    for statement in _as_sorted_list(document.get("Statement", [])):
        statements.append(
            {
                key: _normalised(key, value)
                for key, value in statement.items()
                if key != "Sid" and not (key == "Condition" and not value)
            }
        )
    return _as_sorted_list(statements)


def _normalised(key: str, value: Any) -> Any:
    if key in {"Action", "Resource"}:
        return _as_sorted_list(value)
    if key == "Condition" and isinstance(value, dict):
        return {
            operator: {name: _as_sorted_list(values) for name, values in dict(tests).items()}
            for operator, tests in value.items()
        }
    return value


def resources_of(document: dict[str, Any]) -> set[str]:
    """Every resource (ARN) a policy's statements name."""
    return {
        str(resource)
        for statement in normalise_policy(document)
        for resource in statement.get("Resource", [])
    }


def policy_equal(actual: dict[str, Any], desired: dict[str, Any]) -> bool:
    return normalise_policy(actual) == normalise_policy(desired)


def lifecycle_equal(actual: list[dict[str, Any]], desired: list[dict[str, Any]]) -> bool:
    return _as_sorted_list(actual) == _as_sorted_list(desired)
