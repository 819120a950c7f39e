"""Objects in a Club's bucket, as VideoJobs need them: the size of a job's source and the removal of
a job's folder of outputs. With the server's admin credentials (the operator's, never the Club's);
errors arrive translated as in storage.py (s3_server.translated)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from club_operator.s3_server import MISSING, S3Server, admin_s3, error_code, translated

if TYPE_CHECKING:
    from types_boto3_s3.type_defs import ObjectIdentifierTypeDef


def object_size(server: S3Server, bucket: str, key: str) -> int | None:
    """The object's size in bytes, or None when it does not exist."""
    with translated(server, f"looking up object {key!r} in bucket {bucket!r}"):
        try:
            head = admin_s3(server).head_object(Bucket=bucket, Key=key)
        except ClientError as exc:
            if error_code(exc) in MISSING:
                return None
            raise
        return int(head["ContentLength"])


def delete_folder(server: S3Server, bucket: str, folder: str) -> int:
    """Delete every object under `folder` (which ends with '/', as `contract.video_folders` gives
    it: a bare prefix would also match its siblings whose names extend it); returns how many."""
    if not folder.endswith("/"):
        raise ValueError(f"a folder ends with '/': {folder!r}")
    deleted = 0
    with translated(server, f"deleting {folder} in bucket {bucket!r}"):
        s3 = admin_s3(server)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=folder):
            keys: list[ObjectIdentifierTypeDef] = [{"Key": item["Key"]} for item in page.get("Contents", [])]
            if keys:
                s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
                deleted += len(keys)
    return deleted
