"""Video upload, queueing and playback against real MinIO and Redis, with the club's own MinIO user
(allowed its bucket only): streamed and presigned multipart uploads each store the file and enqueue
exactly one `video-<id>` job; oversize (413) and non-video (415) uploads leave no object, no
unfinished upload, no row and no job; HLS playlists carry short-lived presigned URLs that fetch from
MinIO. Also /readyz, up and with the S3 endpoint wrong."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from minio import MinioAdmin
from minio.credentials.providers import StaticProvider
from pydantic import SecretStr
from redis import Redis
from rq import Queue

from club_devstack.stack import StackInfo
from club_runtime.core.roles import Role
from club_runtime.worker.jobs import SERIALIZER
from tests.integration.runtime.conftest import Club

# The first bytes of an MP4 (an `ftyp` box), then padding: enough for the API's signature check.
MP4_HEAD = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2"
LIMIT_MB = 1


def mp4(size: int) -> bytes:
    return MP4_HEAD + secrets.token_bytes(size - len(MP4_HEAD))


@pytest.fixture
def club_s3_user(stack: StackInfo, bucket: str) -> Iterator[tuple[str, str]]:
    """A MinIO user of the club's own, whose policy allows its bucket and nothing else."""
    admin = MinioAdmin(
        endpoint=urlsplit(stack.minio.endpoint).netloc,
        credentials=StaticProvider(stack.minio.access_key, stack.minio.secret_key),
        secure=False,
    )
    user, secret, policy = f"club-{bucket}", secrets.token_urlsafe(24), f"club-{bucket}"
    statement = {
        "Effect": "Allow",
        "Action": ["s3:*"],
        "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
    }
    admin.policy_add(policy, policy={"Version": "2012-10-17", "Statement": [statement]})
    admin.user_add(user, secret)
    admin.attach_policy([policy], user=user)
    yield user, secret
    admin.user_remove(user)
    admin.policy_remove(policy)


@pytest.fixture
def club(make_club: Any, bucket: str, club_s3_user: tuple[str, str]) -> Club:
    access, secret = club_s3_user
    made: Club = make_club(
        "vid",
        bucket=bucket,
        upload_max_size_mb=LIMIT_MB,
        presign_ttl_sec=120,
        s3_access_key_id=SecretStr(access),
        s3_secret_access_key=SecretStr(secret),
    )
    return made


@pytest.fixture
def video_queue(redis_url: str) -> Iterator[Queue]:
    with Redis.from_url(redis_url) as conn:
        yield Queue("video", connection=conn, serializer=SERIALIZER)


def objects(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def unfinished_uploads(s3: Any, bucket: str) -> list[str]:
    return [u["Key"] for u in s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]


def video_rows(admin_dsn: str) -> int:
    with psycopg.connect(admin_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM public.videos").fetchone()
    assert row is not None
    return int(row[0])


def assert_stored_and_queued(club: Club, s3: Any, bucket: str, queue: Queue, video: Any, data: bytes) -> None:
    video_id = video["id"]
    key = f"clubs/{club.club_id}/videos/{video_id}/source"
    assert video["size_bytes"] == len(data)
    assert video["status"] == "uploaded"
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    assert queue.job_ids == [f"video-{video_id}"]
    job = queue.fetch_job(f"video-{video_id}")
    assert job is not None
    assert job.kwargs == {"club_id": club.club_id, "video_id": video_id}


def test_streamed_upload_is_stored_and_queued_once(
    club: Club, s3: Any, bucket: str, video_queue: Queue, migrated: str
) -> None:
    data = mp4(300_000)
    before = video_rows(migrated)
    got = club.client.post(
        "/api/v1/videos",
        params={"title": "Derby"},
        content=data,
        headers={**club.auth(Role.ANALYST), "Content-Type": "video/mp4"},
    )
    assert got.status_code == 201, got.text
    assert_stored_and_queued(club, s3, bucket, video_queue, got.json(), data)
    assert video_rows(migrated) == before + 1
    assert unfinished_uploads(s3, bucket) == []


def test_presigned_multipart_upload_is_stored_and_queued_once(
    club: Club, s3: Any, bucket: str, video_queue: Queue
) -> None:
    data = mp4(200_000)
    auth = club.auth(Role.COACH)
    ticket = club.client.post(
        "/api/v1/videos/uploads",
        json={"title": "Training", "content_type": "video/mp4", "size_bytes": len(data)},
        headers=auth,
    )
    assert ticket.status_code == 201, ticket.text
    body = ticket.json()
    assert len(body["part_urls"]) == 1
    assert video_queue.job_ids == []  # nothing is queued before the upload is complete
    put = httpx.put(body["part_urls"][0], content=data)  # straight to MinIO, no API credentials
    assert put.status_code == 200, put.text
    done = club.client.post(
        f"/api/v1/videos/uploads/{body['video_id']}/complete",
        json={
            "upload_id": body["upload_id"],
            "title": "Training",
            "content_type": "video/mp4",
            "parts": [{"part_number": 1, "etag": put.headers["ETag"]}],
        },
        headers=auth,
    )
    assert done.status_code == 201, done.text
    assert_stored_and_queued(club, s3, bucket, video_queue, done.json(), data)


def _chunks(data: bytes, size: int = 64 * 1024) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "words"),
    [
        (mp4(LIMIT_MB * 1024 * 1024 + 1), "video/mp4", 413, "exceeds the limit of 1 MB"),
        (b"just some text, not a video " * 100, "video/mp4", 415, "not a video"),
        (mp4(10_000), "text/plain", 415, "not a video"),
    ],
    ids=["oversize", "not-a-video", "wrong-content-type"],
)
@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_refused_streamed_upload_leaves_nothing(
    club: Club,
    s3: Any,
    bucket: str,
    video_queue: Queue,
    migrated: str,
    data: bytes,
    content_type: str,
    status: int,
    words: str,
    declared: bool,
) -> None:
    before = video_rows(migrated)
    got = club.client.post(
        "/api/v1/videos",
        params={"title": "Nope"},
        content=data if declared else _chunks(data),
        headers={**club.auth(Role.OWNER), "Content-Type": content_type},
    )
    assert got.status_code == status, got.text
    assert words in got.json()["detail"]
    assert objects(s3, bucket) == []
    assert unfinished_uploads(s3, bucket) == []
    assert video_rows(migrated) == before
    assert video_queue.job_ids == []


def test_oversize_presigned_upload_refused_up_front(club: Club, s3: Any, bucket: str) -> None:
    got = club.client.post(
        "/api/v1/videos/uploads",
        json={"title": "Big", "content_type": "video/mp4", "size_bytes": 2 * 1024 * 1024},
        headers=club.auth(Role.OWNER),
    )
    assert got.status_code == 413
    assert "exceeds the limit of 1 MB" in got.json()["detail"]
    assert unfinished_uploads(s3, bucket) == []


@pytest.mark.parametrize(
    ("data", "status"),
    [(mp4(LIMIT_MB * 1024 * 1024 + 10), 413), (b"\x00" * 5000, 415)],
    ids=["larger-than-declared", "not-a-video"],
)
def test_refused_multipart_upload_is_removed(
    club: Club, s3: Any, bucket: str, video_queue: Queue, migrated: str, data: bytes, status: int
) -> None:
    """The client declares a small video, then uploads something else: refused at completion, and
    the object it completed is deleted."""
    auth = club.auth(Role.OWNER)
    before = video_rows(migrated)
    ticket = club.client.post(
        "/api/v1/videos/uploads",
        json={"title": "Sly", "content_type": "video/mp4", "size_bytes": 1000},
        headers=auth,
    ).json()
    put = httpx.put(ticket["part_urls"][0], content=data)
    assert put.status_code == 200
    done = club.client.post(
        f"/api/v1/videos/uploads/{ticket['video_id']}/complete",
        json={
            "upload_id": ticket["upload_id"],
            "title": "Sly",
            "content_type": "video/mp4",
            "parts": [{"part_number": 1, "etag": put.headers["ETag"]}],
        },
        headers=auth,
    )
    assert done.status_code == status, done.text
    assert objects(s3, bucket) == []
    assert video_rows(migrated) == before
    assert video_queue.job_ids == []


def test_hls_playlists_carry_presigned_urls_that_fetch_from_minio(
    club: Club, s3: Any, bucket: str, migrated: str
) -> None:
    video_id = uuid.uuid4()
    root = f"clubs/{club.club_id}/videos/{video_id}/hls"
    segments = {f"seg_{n:05d}.ts": secrets.token_bytes(2000) for n in range(3)}
    media = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n" + "".join(f"#EXTINF:6.0,\n{name}\n" for name in segments)
    media += "#EXT-X-ENDLIST\n"
    master = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\n360p/index.m3u8\n"
    s3.put_object(Bucket=bucket, Key=f"{root}/master.m3u8", Body=master.encode())
    s3.put_object(Bucket=bucket, Key=f"{root}/360p/index.m3u8", Body=media.encode())
    for name, data in segments.items():
        s3.put_object(Bucket=bucket, Key=f"{root}/360p/{name}", Body=data)
    with psycopg.connect(club.dsn) as conn:
        conn.execute(
            "INSERT INTO videos (id, title, source_key, status, outputs) "
            "VALUES (%s, 'Final', %s, 'ready', %s)",
            [
                video_id,
                f"clubs/{club.club_id}/videos/{video_id}/source",
                psycopg.types.json.Jsonb({"master": f"{root}/master.m3u8"}),
            ],
        )
    auth = club.auth(Role.PLAYER)
    base = f"/api/v1/videos/{video_id}/hls"

    got = club.client.get(f"{base}/master.m3u8", headers=auth)
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith("application/vnd.apple.mpegurl")
    assert "360p/index.m3u8" in got.text.splitlines()  # variants stay relative: served by this route

    got = club.client.get(f"{base}/360p/index.m3u8", headers=auth)
    assert got.status_code == 200, got.text
    urls = [line for line in got.text.splitlines() if line and not line.startswith("#")]
    assert len(urls) == len(segments)
    for url, (name, data) in zip(urls, segments.items(), strict=True):
        query = parse_qs(urlsplit(url).query)
        assert urlsplit(url).path.endswith(f"/360p/{name}")
        assert query["X-Amz-Expires"] == ["120"]
        fetched = httpx.get(url)
        assert fetched.status_code == 200
        assert fetched.content == data
    # A URL is signed for that object only.
    tampered = urls[0].replace("seg_00000.ts", "seg_00001.ts")
    assert httpx.get(tampered).status_code == 403

    # Outside the video's HLS folder, or not a playlist (slashes encoded, so the server sees the dots).
    for bad in ("..%2Fsource", "..%2F..%2F..%2Fother%2Fhls%2Fmaster.m3u8", "360p/seg_00000.ts"):
        assert club.client.get(f"{base}/{bad}", headers=auth).status_code == 404
    assert club.client.get(f"{base}/master.m3u8").status_code == 401


def test_readyz_up(club: Club) -> None:
    got = club.client.get("/readyz")
    assert got.status_code == 200, got.text
    assert got.json()["checks"] == {"database": "ok", "migrations": "ok", "redis": "ok", "s3": "ok"}


def test_readyz_names_a_wrong_s3_endpoint(make_club: Any, bucket: str) -> None:
    club: Club = make_club("s3down", bucket=bucket, s3_endpoint_url="http://127.0.0.1:9")
    got = club.client.get("/readyz")
    assert got.status_code == 503
    checks = got.json()["checks"]
    assert checks["s3"].startswith("error")
    assert {k: v for k, v in checks.items() if k != "s3"} == {
        "database": "ok",
        "migrations": "ok",
        "redis": "ok",
    }


def test_readyz_names_a_missing_bucket(make_club: Any) -> None:
    club: Club = make_club("nobucket", bucket=f"missing-{uuid.uuid4().hex[:8]}")
    got = club.client.get("/readyz")
    assert got.status_code == 503
    assert got.json()["checks"]["s3"].startswith("error")
