"""The objects of a Club's bucket that VideoJobs use, on the stack's real MinIO: a source's size, and
the removal of one video's folder that leaves every other object, a folder whose name extends it
included."""

from __future__ import annotations

from typing import Any

import pytest

from club_devstack.stack import StackInfo
from club_operator import bucket_objects
from club_operator.s3_server import S3Server, StorageConflict


@pytest.fixture
def server(stack: StackInfo) -> S3Server:
    return S3Server(stack.minio.endpoint, stack.minio.access_key, stack.minio.secret_key)


def test_a_source_has_its_size_and_a_missing_one_none(server: S3Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="uploads/match.mp4", Body=b"x" * 1234)
    assert bucket_objects.object_size(server, bucket, "uploads/match.mp4") == 1234
    assert bucket_objects.object_size(server, bucket, "uploads/other.mp4") is None


def test_a_missing_bucket_is_a_missing_source(server: S3Server, bucket: str) -> None:
    assert bucket_objects.object_size(server, f"{bucket}-none", "uploads/match.mp4") is None


def test_deleting_a_folder_removes_only_its_objects(server: S3Server, s3: Any, bucket: str) -> None:
    ours = ["clubs/c1/videos/v1/hls/master.m3u8", "clubs/c1/videos/v1/clips/0.mp4"]
    others = ["clubs/c1/videos/v10/hls/master.m3u8", "clubs/c1/videos/v1.mp4", "uploads/v1/source.mp4"]
    for key in ours + others:
        s3.put_object(Bucket=bucket, Key=key, Body=b"data")

    assert bucket_objects.delete_folder(server, bucket, "clubs/c1/videos/v1/") == len(ours)

    left = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert sorted(left) == sorted(others)
    assert bucket_objects.delete_folder(server, bucket, "clubs/c1/videos/v1/") == 0


def test_a_folder_without_its_slash_is_refused(server: S3Server, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="clubs/c1/videos/v10/poster.jpg", Body=b"data")
    with pytest.raises(ValueError, match="ends with '/'"):
        bucket_objects.delete_folder(server, bucket, "clubs/c1/videos/v1")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1


def test_an_invalid_bucket_name_is_a_conflict(server: S3Server) -> None:
    with pytest.raises(StorageConflict):
        bucket_objects.delete_folder(server, "No_Such..Bucket", "clubs/c1/videos/v1/")
