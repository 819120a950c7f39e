"""Bucket usage for the storage quota alert, read from a real MinIO's data usage: the figure its
scanner keeps (and enforces bucket quotas on), which lags writes by a scanner cycle."""

from __future__ import annotations

import time
from typing import Any

import pytest

from club_devstack.stack import StackInfo
from club_operator import s3_server, storage_usage


@pytest.mark.slow
def test_a_buckets_usage_is_read_from_minios_data_usage(
    stack: StackInfo, s3: Any, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3.put_object(Bucket=bucket, Key="videos/a.mp4", Body=b"v" * 7000)
    s3.put_object(Bucket=bucket, Key="videos/b.mp4", Body=b"v" * 3000)
    server = s3_server.S3Server(
        endpoint=stack.minio.endpoint, access_key=stack.minio.access_key, secret_key=stack.minio.secret_key
    )
    monkeypatch.setattr(storage_usage, "CACHE_SEC", 0.0)  # each call asks the server
    deadline = time.monotonic() + 300  # MinIO's scanner takes about a minute on an idle server
    sizes: dict[str, int] = {}
    while time.monotonic() < deadline:
        sizes = storage_usage.bucket_sizes(server)
        if sizes.get(bucket):
            break
        time.sleep(2)
    assert sizes.get(bucket) == 10000
