"""What a user checks about the outputs: download them and ask ffprobe."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any


def ffprobe(path: Path) -> dict[str, Any]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def video_stream(info: dict[str, Any]) -> dict[str, Any]:
    return next(s for s in info["streams"] if s["codec_type"] == "video")


def listing(s3: Any, bucket: str, prefix: str = "") -> dict[str, tuple[str, Any, int]]:
    """key -> (etag, last modified, size) of every object under `prefix`."""
    objects: dict[str, tuple[str, Any, int]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            objects[obj["Key"]] = (obj["ETag"], obj["LastModified"], obj["Size"])
    return objects


def download_tree(s3: Any, bucket: str, prefix: str, dest: Path) -> Path:
    for key in listing(s3, bucket, prefix):
        target = dest / key[len(prefix) :].lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        s3.download_file(bucket, key, str(target))
    return dest
