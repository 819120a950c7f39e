"""Deleting a video removes exactly its objects, against real MinIO, PostgreSQL, Redis, ffmpeg and a
real `club-runtime worker`: a video made from a VideoJob's object (`uploads/...`) and one uploaded
through the API are each processed, then deleted through the API; every object of the club is
listed before and after, and exactly the deleted video's source and outputs are gone."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg.types.json import Jsonb
from rq import Queue
from rq.job import JobStatus

from club_devstack.stack import StackInfo
from club_runtime import contract
from club_runtime.core.roles import Role
from club_runtime.worker.jobs import SERIALIZER, video
from tests.integration.runtime.conftest import Club
from tests.integration.worker import harness
from tests.integration.worker.media_checks import listing


@pytest.fixture
def club(make_club: Any, bucket: str) -> Club:
    made: Club = make_club("del", bucket=bucket, upload_max_size_mb=50)
    return made


def objects(s3: Any, bucket: str) -> set[str]:
    return set(listing(s3, bucket))


def folder_of(club: Club, video_id: str) -> str:
    return contract.video_prefix(club.club_id, video_id) + "/"


def enqueue_object(redis_url: str, club: Club, video_id: str, key: str) -> None:
    """What the operator enqueues for a VideoJob: the object's key, the VideoJob's uid as the id."""
    queue = Queue(
        club.settings.queue_video, connection=redis.Redis.from_url(redis_url), serializer=SERIALIZER
    )
    kwargs = {
        "club_id": club.club_id,
        "video_id": video_id,
        "outputs": {"renditions": ["360p"], "thumbnail_interval_sec": 1},
        "source": {"key": key, "title": "Friendly"},
    }
    queue.enqueue(video.FUNCTION, kwargs=kwargs, job_id=video.job_id(video_id))


def run_worker(stack: StackInfo, club: Club, redis_url: str, log: Path) -> None:
    bed = harness.Club(club.club_id, club.settings.club_slug, club.dsn, club.settings.s3_bucket)
    env = harness.worker_env(stack, bed, redis_url, QUEUE_VIDEO=club.settings.queue_video)
    harness.run_burst_worker(env, log)


def test_deleting_a_videojob_video_and_an_api_video_removes_exactly_their_objects(
    stack: StackInfo, club: Club, s3: Any, bucket: str, redis_url: str, tmp_path: Path
) -> None:
    source = harness.make_source(tmp_path / "match.mp4", width=640, height=360, seconds=3)
    auth = club.auth(Role.ANALYST)
    # The club's other objects: uploads waiting for VideoJobs, and a video uploaded through the API.
    for key in ("uploads/friendly.mp4", "uploads/next-week.mp4", "uploads/kit-list.txt"):
        s3.upload_file(str(source), bucket, key)
    job_video = str(uuid.uuid4())
    enqueue_object(redis_url, club, job_video, "uploads/friendly.mp4")
    uploaded = []
    for title in ("Derby", "Cup final"):
        got = club.client.post(
            "/api/v1/videos",
            params={"title": title},
            content=source.read_bytes(),
            headers={**auth, "Content-Type": "video/mp4"},
        )
        assert got.status_code == 201, got.text
        uploaded.append(got.json()["id"])
    api_video, other_api_video = uploaded
    run_worker(stack, club, redis_url, tmp_path / "worker.log")
    for video_id in (job_video, api_video, other_api_video):
        got = club.client.get(f"/api/v1/videos/{video_id}", headers=auth)
        assert got.json()["status"] == "ready", (got.json(), (tmp_path / "worker.log").read_text()[-3000:])

    # A VideoJob's video: its outputs and the object it was made from go; nothing else.
    before = objects(s3, bucket)
    mine = {k for k in before if k.startswith(folder_of(club, job_video))}
    assert {contract.master_playlist(folder_of(club, job_video).rstrip("/"))} <= mine
    assert any(k.endswith(".ts") for k in mine)
    assert any("/thumbnails/" in k for k in mine)
    assert club.client.delete(f"/api/v1/videos/{job_video}", headers=auth).status_code == 204
    after = objects(s3, bucket)
    assert before - after == mine | {"uploads/friendly.mp4"}
    assert after <= before
    assert club.client.get(f"/api/v1/videos/{job_video}", headers=auth).status_code == 404

    # A video uploaded through the API: its folder (source and outputs) goes; nothing else.
    before = after
    mine = {k for k in before if k.startswith(folder_of(club, api_video))}
    assert contract.source(folder_of(club, api_video).rstrip("/")) in mine
    assert any(k.endswith(".ts") for k in mine)
    assert any(k.endswith("poster.jpg") for k in mine)
    assert club.client.delete(f"/api/v1/videos/{api_video}", headers=auth).status_code == 204
    after = objects(s3, bucket)
    assert before - after == mine
    assert after <= before
    assert any(k.startswith(folder_of(club, other_api_video)) for k in after)
    assert {"uploads/next-week.mp4", "uploads/kit-list.txt"} <= after


def insert_video(
    club: Club, video_id: str, source: str, outputs: dict[str, Any], status: str = "ready"
) -> None:
    with psycopg.connect(club.dsn) as conn:
        conn.execute(
            "INSERT INTO videos (id, title, source_key, status, outputs) VALUES (%s, 'v', %s, %s, %s)",
            [video_id, source, status, Jsonb(outputs)],
        )


def test_a_source_two_videos_were_made_from_goes_with_the_last_of_them(
    club: Club, s3: Any, bucket: str
) -> None:
    auth = club.auth(Role.COACH)
    s3.put_object(Bucket=bucket, Key="uploads/shared.mp4", Body=b"video")
    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    for video_id in (first, second):
        insert_video(club, video_id, "uploads/shared.mp4", {})
        s3.put_object(Bucket=bucket, Key=f"{folder_of(club, video_id)}poster.jpg", Body=b"jpg")
    assert club.client.delete(f"/api/v1/videos/{first}", headers=auth).status_code == 204
    assert objects(s3, bucket) == {"uploads/shared.mp4", f"{folder_of(club, second)}poster.jpg"}
    assert club.client.delete(f"/api/v1/videos/{second}", headers=auth).status_code == 204
    assert objects(s3, bucket) == set()


def test_outputs_in_the_legacy_folder_are_deleted_too(club: Club, s3: Any, bucket: str) -> None:
    """Videos processed before the one layout wrote under the Club's name: their recorded keys say so."""
    video_id = str(uuid.uuid4())
    legacy = contract.legacy_video_prefix("an-old-club-name", video_id)
    keep = "clubs/an-old-club-name/videos/another-video/hls/master.m3u8"
    for key in (f"{legacy}/hls/master.m3u8", f"{legacy}/hls/360p/seg_00000.ts", keep, "uploads/old.mp4"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    insert_video(club, video_id, "uploads/old.mp4", {"master": f"{legacy}/hls/master.m3u8"})
    assert club.client.delete(f"/api/v1/videos/{video_id}", headers=club.auth(Role.ADMIN)).status_code == 204
    assert objects(s3, bucket) == {keep}


def test_a_video_being_processed_is_not_deleted(club: Club, s3: Any, bucket: str) -> None:
    video_id = str(uuid.uuid4())
    source = contract.source(contract.video_prefix(club.club_id, video_id))
    s3.put_object(Bucket=bucket, Key=source, Body=b"video")
    insert_video(club, video_id, source, {}, status="processing")
    got = club.client.delete(f"/api/v1/videos/{video_id}", headers=club.auth(Role.ADMIN))
    assert got.status_code == 409, got.text
    assert objects(s3, bucket) == {source}
    assert club.client.get(f"/api/v1/videos/{video_id}", headers=club.auth(Role.ADMIN)).status_code == 200


def test_a_worker_whose_video_was_deleted_uploads_nothing(
    stack: StackInfo, club: Club, s3: Any, bucket: str, redis_url: str, tmp_path: Path
) -> None:
    """The job of a deleted video (queued before the deletion) finds no row and writes nothing."""
    source = harness.make_source(tmp_path / "match.mp4", width=320, height=240, seconds=1)
    got = club.client.post(
        "/api/v1/videos",
        params={"title": "Gone"},
        content=source.read_bytes(),
        headers={**club.auth(Role.ANALYST), "Content-Type": "video/mp4"},
    )
    assert got.status_code == 201, got.text
    video_id = got.json()["id"]
    assert (
        club.client.delete(f"/api/v1/videos/{video_id}", headers=club.auth(Role.ANALYST)).status_code == 204
    )
    queue = Queue(
        club.settings.queue_video, connection=redis.Redis.from_url(redis_url), serializer=SERIALIZER
    )
    job = queue.fetch_job(video.job_id(video_id))
    assert job is not None
    run_worker(stack, club, redis_url, tmp_path / "worker.log")
    assert job.get_status(refresh=True) == JobStatus.FAILED
    assert objects(s3, bucket) == set()
