"""The backup bucket: a table's object written by multipart upload in bounded parts while the rows
still stream in, read back in chunks; the manifest put last and refused where one already is.

A writer holds at most `in_flight` parts being uploaded (on a small thread pool, so reading the
database and compressing go on meanwhile) plus the one filling: memory stays bounded by the part size
whatever the table's size. A writer that fails or is abandoned aborts its upload, so a job killed
half-way leaves no object for it; an upload the process could not abort (killed outright) is never
completed, so S3 shows no object either (a lifecycle rule on incomplete uploads reclaims the parts).
botocore errors are translated into `BackupStoreError` here, with the cause kept."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from club_runtime.settings import Settings

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
else:
    S3Client = Any

READ_CHUNK = 1024 * 1024


class BackupStoreError(RuntimeError):
    """The backup bucket refused or failed a request."""


class BackupExists(BackupStoreError):
    """A backup with this id is already complete: backups are never overwritten."""


class BackupMissing(BackupStoreError):
    """No such object in the backup bucket."""


@dataclass(frozen=True)
class Store:
    client: S3Client
    bucket: str
    prefix: str
    part_size: int


def connect(settings: Settings) -> Store:
    if not settings.backup_s3_bucket:
        raise BackupStoreError("BACKUP_S3_BUCKET is not set: where should backups go?")
    prefix = settings.backup_s3_prefix
    if prefix and not prefix.endswith("/"):
        raise BackupStoreError(f"BACKUP_S3_PREFIX {prefix!r} must end with '/'")
    client = boto3.client(
        "s3",
        endpoint_url=settings.backup_s3_endpoint_url or settings.s3_endpoint_url or None,
        region_name=settings.backup_s3_region or settings.s3_region,
        aws_access_key_id=settings.backup_s3_access_key_id.get_secret_value() or None,
        aws_secret_access_key=settings.backup_s3_secret_access_key.get_secret_value() or None,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
    )
    return Store(client, settings.backup_s3_bucket, prefix, settings.backup_part_size_mb * 1024 * 1024)


def _wrap(exc: Exception, doing: str) -> BackupStoreError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("404", "NoSuchKey"):
            return BackupMissing(f"{doing}: no such object")
        return BackupStoreError(f"{doing} failed: {code or exc.__class__.__name__}")
    return BackupStoreError(f"{doing} failed: {exc.__class__.__name__}")


def exists(store: Store, key: str) -> bool:
    try:
        store.client.head_object(Bucket=store.bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return False
        raise _wrap(exc, f"reading {key}") from exc
    except BotoCoreError as exc:
        raise _wrap(exc, f"reading {key}") from exc
    return True


def put_manifest(store: Store, key: str, body: bytes) -> None:
    """Write the manifest, only if none is there (S3's conditional write: `If-None-Match: *`)."""
    try:
        store.client.put_object(
            Bucket=store.bucket, Key=key, Body=body, ContentType="application/json", IfNoneMatch="*"
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise BackupExists(f"{key} already exists: a backup is never overwritten") from exc
        raise _wrap(exc, f"writing {key}") from exc
    except BotoCoreError as exc:
        raise _wrap(exc, f"writing {key}") from exc


def get_bytes(store: Store, key: str, limit: int = 16 * 1024 * 1024) -> bytes:
    try:
        body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"]
        return body.read(limit)
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, f"reading {key}") from exc


def size_of(store: Store, key: str) -> int:
    try:
        return int(store.client.head_object(Bucket=store.bucket, Key=key)["ContentLength"])
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, f"reading {key}") from exc


def read_chunks(store: Store, key: str) -> Iterator[bytes]:
    """The object's bytes in chunks of READ_CHUNK, streamed."""
    try:
        body = store.client.get_object(Bucket=store.bucket, Key=key)["Body"]
        try:
            while chunk := body.read(READ_CHUNK):
                yield chunk
        finally:
            body.close()
    except (BotoCoreError, ClientError) as exc:
        raise _wrap(exc, f"reading {key}") from exc


class ObjectWriter:
    """One object by multipart upload: `write` bytes as they come, `close` completes it, `abort`
    (also on leaving a `with` block by an exception) removes the parts."""

    def __init__(self, store: Store, key: str, *, pool: ThreadPoolExecutor, in_flight: int = 2) -> None:
        self._store = store
        self._key = key
        self._pool = pool
        self._in_flight = in_flight
        self._buffer = bytearray()
        self._parts: list[Future[tuple[int, str]]] = []
        self._upload_id: str | None = None
        self.size = 0

    def __enter__(self) -> ObjectWriter:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self.abort()

    def write(self, data: bytes) -> None:
        self._buffer += data
        self.size += len(data)
        if len(self._buffer) >= self._store.part_size:
            self._send(bytes(self._buffer))
            self._buffer.clear()

    def close(self) -> None:
        """Complete the object. A small one (no part sent yet) is one PUT."""
        store = self._store
        if self._upload_id is None:
            try:
                store.client.put_object(Bucket=store.bucket, Key=self._key, Body=bytes(self._buffer))
            except (BotoCoreError, ClientError) as exc:
                raise _wrap(exc, f"writing {self._key}") from exc
            return
        if self._buffer:
            self._send(bytes(self._buffer))
            self._buffer.clear()
        parts = [future.result() for future in self._parts]
        try:
            store.client.complete_multipart_upload(
                Bucket=store.bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": [{"PartNumber": n, "ETag": etag} for n, etag in parts]},
            )
        except (BotoCoreError, ClientError) as exc:
            raise _wrap(exc, f"completing {self._key}") from exc

    def abort(self) -> None:
        """Drop the upload: best effort (the first error is the one worth reporting)."""
        for future in self._parts:
            future.cancel()
        if self._upload_id is None:
            return
        for future in self._parts:
            if not future.cancelled():
                future.exception()  # wait: a part still uploading would outlive the abort
        with contextlib.suppress(BotoCoreError, ClientError):
            self._store.client.abort_multipart_upload(
                Bucket=self._store.bucket, Key=self._key, UploadId=self._upload_id
            )

    def _send(self, data: bytes) -> None:
        store = self._store
        if self._upload_id is None:
            try:
                self._upload_id = store.client.create_multipart_upload(Bucket=store.bucket, Key=self._key)[
                    "UploadId"
                ]
            except (BotoCoreError, ClientError) as exc:
                raise _wrap(exc, f"starting the upload of {self._key}") from exc
        # Bounded: wait for the oldest part still in flight before sending one more.
        pending = [f for f in self._parts if not f.done()]
        if len(pending) >= self._in_flight:
            pending[0].result()
        for future in self._parts:
            if future.done():
                future.result()  # a failed part fails the object now, not at the end
        number = len(self._parts) + 1
        self._parts.append(self._pool.submit(self._upload_part, number, data))

    def _upload_part(self, number: int, data: bytes) -> tuple[int, str]:
        store = self._store
        try:
            answer = store.client.upload_part(
                Bucket=store.bucket,
                Key=self._key,
                UploadId=str(self._upload_id),
                PartNumber=number,
                Body=data,
            )
        except (BotoCoreError, ClientError) as exc:
            raise _wrap(exc, f"uploading part {number} of {self._key}") from exc
        return number, answer["ETag"]
