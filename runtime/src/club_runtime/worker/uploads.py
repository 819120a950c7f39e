"""The club bucket as the worker uses it: download a source, upload outputs in parallel (large
files as multipart), count bytes both ways. An S3 PUT or completed multipart upload is atomic, so an
object is either absent or whole; ordering (segments before the playlist that names them) is the
caller's job."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from club_runtime import contract
from club_runtime.settings import Settings

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client
else:
    S3Client = Any

MULTIPART_THRESHOLD = 16 * 1024 * 1024


def client(settings: Settings) -> S3Client:
    return boto3.client(
        "s3",
        endpoint_url=settings.s3_endpoint_url or None,
        region_name=settings.s3_region,
        aws_access_key_id=settings.s3_access_key_id.get_secret_value() or None,
        aws_secret_access_key=settings.s3_secret_access_key.get_secret_value() or None,
        config=Config(
            retries={"max_attempts": 5, "mode": "standard"},
            max_pool_connections=max(10, settings.upload_concurrency * 2),
        ),
    )


def _missing(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


class Bucket:
    """One bucket, with counters of bytes read and written (for metrics and job results)."""

    def __init__(self, s3: S3Client, name: str, *, concurrency: int = 8) -> None:
        self._s3 = s3
        self.name = name
        self._concurrency = max(1, concurrency)
        self._transfer = TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD,
            multipart_chunksize=MULTIPART_THRESHOLD,
            max_concurrency=4,
        )
        self._lock = threading.Lock()
        self.bytes_read = 0
        self.bytes_written = 0
        self.objects_written = 0

    def _count_write(self, size: int) -> None:
        with self._lock:
            self.bytes_written += size
            self.objects_written += 1

    def download(self, key: str, path: Path) -> int:
        """Download `key` to `path`; FileNotFoundError when the object does not exist."""
        try:
            self._s3.download_file(self.name, key, str(path), Config=self._transfer)
        except ClientError as exc:
            if _missing(exc):
                raise FileNotFoundError(f"object {key!r} does not exist in the bucket") from exc
            raise
        size = path.stat().st_size
        with self._lock:
            self.bytes_read += size
        return size

    def exists(self, key: str) -> bool:
        return self.size(key) is not None

    def size(self, key: str) -> int | None:
        """The object's size in bytes; None when it does not exist."""
        try:
            head = self._s3.head_object(Bucket=self.name, Key=key)
        except ClientError as exc:
            if _missing(exc):
                return None
            raise
        return int(head["ContentLength"])

    def read_head(self, key: str, length: int) -> bytes:
        """The first `length` bytes of an object (fewer when it is shorter)."""
        body = self._s3.get_object(Bucket=self.name, Key=key, Range=f"bytes=0-{length - 1}")["Body"]
        data: bytes = body.read()
        with self._lock:
            self.bytes_read += len(data)
        return data

    def upload_file(self, path: Path, key: str) -> None:
        self._s3.upload_file(
            str(path),
            self.name,
            key,
            ExtraArgs={"ContentType": contract.content_type(key)},
            Config=self._transfer,
        )
        self._count_write(path.stat().st_size)

    def upload_files(self, files: Sequence[tuple[Path, str]]) -> None:
        """Upload (path, key) pairs in parallel; returns when all are whole, raises the first error."""
        if not files:
            return
        with ThreadPoolExecutor(max_workers=min(self._concurrency, len(files))) as pool:
            for future in [pool.submit(self.upload_file, path, key) for path, key in files]:
                future.result()

    def upload_text(self, key: str, text: str) -> None:
        body = text.encode()
        self._s3.put_object(Bucket=self.name, Key=key, Body=body, ContentType=contract.content_type(key))
        self._count_write(len(body))
