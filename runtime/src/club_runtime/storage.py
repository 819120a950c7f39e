"""The club's bucket: presigned multipart uploads, streamed uploads, presigned downloads.

boto3 is synchronous: the API calls these through a worker thread. botocore errors are translated
into `StorageError` here, with the cause kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from club_runtime import contract
from club_runtime.settings import Settings

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
else:
    S3Client = Any

PART_SIZE = 8 * 1024 * 1024
SNIFF_BYTES = 192
VIDEO_CONTAINERS = contract.VIDEO_CONTAINERS
"""The containers `is_video_signature` accepts, as messages name them."""


class StorageError(RuntimeError):
    """The object store refused or failed a request."""


class ObjectMissing(StorageError):
    """The object does not exist."""


@dataclass(frozen=True)
class Bucket:
    client: S3Client
    name: str
    presign_ttl: int


def connect(settings: Settings) -> Bucket:
    client = boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id.get_secret_value() or None,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 2}),
    )
    return Bucket(client=client, name=settings.s3_bucket, presign_ttl=settings.presign_ttl_sec)


def is_video_signature(head: bytes) -> bool:
    """Whether the first bytes are those of a video container we can process (MP4/MOV, Matroska/WebM,
    AVI, MPEG transport or program stream)."""
    return (
        (len(head) >= 8 and head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide"))
        or head.startswith(b"\x1a\x45\xdf\xa3")
        or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
        or head.startswith(b"\x00\x00\x01\xba")
        or (len(head) >= 189 and head[0] == 0x47 and head[188] == 0x47)
    )


def _wrap(exc: Exception, doing: str) -> StorageError:
    if isinstance(exc, ClientError) and exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
        return ObjectMissing(f"{doing}: no such object")
    return StorageError(f"{doing} failed: {exc.__class__.__name__}")


def check(bucket: Bucket) -> None:
    try:
        bucket.client.head_bucket(Bucket=bucket.name)
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "checking the bucket") from exc


def start_multipart(bucket: Bucket, key: str, content_type: str) -> str:
    try:
        return bucket.client.create_multipart_upload(Bucket=bucket.name, Key=key, ContentType=content_type)[
            "UploadId"
        ]
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "starting an upload") from exc


def presign_parts(bucket: Bucket, key: str, upload_id: str, numbers: Sequence[int]) -> list[str]:
    """URLs to PUT the numbered parts of a multipart upload, each valid for PRESIGN_TTL_SEC; an upload
    that outlasts them asks for fresh ones (`upload_in_progress` first)."""
    try:
        return [
            bucket.client.generate_presigned_url(
                "upload_part",
                Params={"Bucket": bucket.name, "Key": key, "UploadId": upload_id, "PartNumber": n},
                ExpiresIn=bucket.presign_ttl,
            )
            for n in numbers
        ]
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "presigning upload parts") from exc


def upload_in_progress(bucket: Bucket, key: str, upload_id: str) -> bool:
    """Whether `upload_id` is an unfinished multipart upload of `key` (not completed, not aborted)."""
    try:
        bucket.client.list_parts(Bucket=bucket.name, Key=key, UploadId=upload_id, MaxParts=1)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchUpload", "404", "NoSuchKey"):
            return False
        raise _wrap(exc, "reading an upload") from exc
    except BotoCoreError as exc:
        raise _wrap(exc, "reading an upload") from exc
    return True


def complete_multipart(bucket: Bucket, key: str, upload_id: str, etags: Sequence[tuple[int, str]]) -> None:
    try:
        bucket.client.complete_multipart_upload(
            Bucket=bucket.name,
            Key=key,
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in etags]},
        )
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "completing the upload") from exc


def abort_multipart(bucket: Bucket, key: str, upload_id: str) -> None:
    try:
        bucket.client.abort_multipart_upload(Bucket=bucket.name, Key=key, UploadId=upload_id)
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "aborting the upload") from exc


def upload_part(bucket: Bucket, key: str, upload_id: str, number: int, data: bytes) -> str:
    try:
        return bucket.client.upload_part(
            Bucket=bucket.name, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )["ETag"]
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "uploading a part") from exc


def size_of(bucket: Bucket, key: str) -> int:
    try:
        return int(bucket.client.head_object(Bucket=bucket.name, Key=key)["ContentLength"])
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "reading object metadata") from exc


def read_range(bucket: Bucket, key: str, length: int) -> bytes:
    try:
        body = bucket.client.get_object(Bucket=bucket.name, Key=key, Range=f"bytes=0-{length - 1}")["Body"]
        return body.read()
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "reading an object") from exc


def read_text(bucket: Bucket, key: str, limit: int = 1024 * 1024) -> str:
    try:
        body = bucket.client.get_object(Bucket=bucket.name, Key=key)["Body"]
        return body.read(limit).decode("utf-8", errors="replace")
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "reading an object") from exc


def delete(bucket: Bucket, key: str) -> None:
    try:
        bucket.client.delete_object(Bucket=bucket.name, Key=key)
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "deleting an object") from exc


def delete_prefix(bucket: Bucket, prefix: str) -> None:
    """Delete every object whose key starts with `prefix` (a page of up to 1,000 per request)."""
    try:
        for page in bucket.client.get_paginator("list_objects_v2").paginate(
            Bucket=bucket.name, Prefix=prefix
        ):
            contents = page.get("Contents", [])
            if not contents:
                continue
            answer = bucket.client.delete_objects(
                Bucket=bucket.name, Delete={"Objects": [{"Key": o["Key"]} for o in contents], "Quiet": True}
            )
            if answer.get("Errors"):
                raise StorageError(f"deleting objects failed: {answer['Errors'][0].get('Code', 'error')}")
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "deleting objects") from exc


MAX_PRESIGN_SEC = 7 * 24 * 3600
"""The longest a SigV4 presigned URL may live."""


def presign_get(bucket: Bucket, key: str, ttl: int | None = None) -> str:
    """A download URL valid for `ttl` seconds (PRESIGN_TTL_SEC by default, at most a week)."""
    expires = min(bucket.presign_ttl if ttl is None else ttl, MAX_PRESIGN_SEC)
    try:
        return bucket.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket.name, "Key": key}, ExpiresIn=expires
        )
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, "presigning a download") from exc
