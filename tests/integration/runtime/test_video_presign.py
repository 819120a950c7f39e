"""Presigned URLs live as long as the work needs, against real MinIO through the real API: a
multipart upload whose part URLs expired gets fresh ones and completes with them; HLS segment URLs
live for the video's duration plus PRESIGN_TTL_SEC."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from psycopg.types.json import Jsonb

from club_runtime.core.roles import Role
from tests.integration.runtime.conftest import Club

MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
PART = 8 * 1024 * 1024  # storage.PART_SIZE: every part but the last is this large
TTL = 3  # PRESIGN_TTL_SEC: short, so that a URL expires while the test waits


@pytest.fixture
def club(make_club: Any, bucket: str) -> Club:
    made: Club = make_club("sign", bucket=bucket, upload_max_size_mb=50, presign_ttl_sec=TTL)
    return made


def expires(url: str) -> str:
    return parse_qs(urlsplit(url).query)["X-Amz-Expires"][0]


def test_an_upload_whose_part_urls_expired_gets_fresh_ones_and_completes(
    club: Club, s3: Any, bucket: str
) -> None:
    data = MP4_HEAD + secrets.token_bytes(PART + 300_000 - len(MP4_HEAD))
    parts = {1: data[:PART], 2: data[PART:]}
    auth = club.auth(Role.ANALYST)
    ticket = club.client.post(
        "/api/v1/videos/uploads",
        json={"title": "Away day", "content_type": "video/mp4", "size_bytes": len(data)},
        headers=auth,
    )
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    assert len(body["part_urls"]) == 2
    assert expires(body["part_urls"][1]) == str(TTL)
    # The client is slow: by the time it sends part 2, its URL has expired (MinIO says so).
    deadline = time.monotonic() + 30
    while (put := httpx.put(body["part_urls"][1], content=parts[2])).status_code != 403:
        assert put.status_code == 200, put.text
        assert time.monotonic() < deadline, "the part URL never expired"
        time.sleep(0.2)  # each try sends the part again

    base = f"/api/v1/videos/uploads/{body['video_id']}"
    fresh = club.client.post(
        f"{base}/parts", json={"upload_id": body["upload_id"], "part_numbers": [2, 1]}, headers=auth
    )
    assert fresh.status_code == 200, fresh.text
    urls = dict(zip([2, 1], fresh.json()["part_urls"], strict=True))
    for number, url in urls.items():
        assert parse_qs(urlsplit(url).query)["partNumber"] == [str(number)]
    etags = []
    for number in (1, 2):
        put = httpx.put(urls[number], content=parts[number])
        if put.status_code == 403:  # expired again on a very slow machine: sign once more
            again = club.client.post(
                f"{base}/parts", json={"upload_id": body["upload_id"], "part_numbers": [number]}, headers=auth
            )
            put = httpx.put(again.json()["part_urls"][0], content=parts[number])
        assert put.status_code == 200, put.text
        etags.append({"part_number": number, "etag": put.headers["ETag"]})
    done = club.client.post(
        f"{base}/complete",
        json={
            "upload_id": body["upload_id"],
            "title": "Away day",
            "content_type": "video/mp4",
            "parts": etags,
        },
        headers=auth,
    )
    assert done.status_code == 201, done.text
    key = f"clubs/{club.club_id}/videos/{body['video_id']}/source"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data

    # Finished uploads, unknown ones, and another video's upload are not signed.
    for video_id, upload_id in (
        (body["video_id"], body["upload_id"]),
        (body["video_id"], "no-such-upload"),
        (str(uuid.uuid4()), body["upload_id"]),
    ):
        got = club.client.post(
            f"/api/v1/videos/uploads/{video_id}/parts",
            json={"upload_id": upload_id, "part_numbers": [1]},
            headers=auth,
        )
        assert got.status_code == 404, got.text
    assert club.client.post(f"{base}/parts", json={"upload_id": "x", "part_numbers": [1]}).status_code == 401


def test_hls_segment_urls_live_for_the_length_of_the_video(club: Club, s3: Any, bucket: str) -> None:
    video_id = uuid.uuid4()
    root = f"clubs/{club.club_id}/videos/{video_id}/hls"
    media = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.0,\nseg_00000.ts\n#EXT-X-ENDLIST\n"
    s3.put_object(Bucket=bucket, Key=f"{root}/360p/index.m3u8", Body=media.encode())
    s3.put_object(Bucket=bucket, Key=f"{root}/360p/seg_00000.ts", Body=b"segment")
    outputs = {"master": f"{root}/master.m3u8", "source": {"duration_sec": 5400.2}}  # a 90-minute match
    with psycopg.connect(club.dsn) as conn:
        conn.execute(
            "INSERT INTO videos (id, title, source_key, status, outputs) "
            "VALUES (%s, 'Final', 'x', 'ready', %s)",
            [video_id, Jsonb(outputs)],
        )
    got = club.client.get(f"/api/v1/videos/{video_id}/hls/360p/index.m3u8", headers=club.auth(Role.PLAYER))
    assert got.status_code == 200, got.text
    (url,) = [line for line in got.text.splitlines() if line and not line.startswith("#")]
    assert expires(url) == str(5401 + TTL)  # the duration, rounded up, plus PRESIGN_TTL_SEC
    assert httpx.get(url).content == b"segment"
