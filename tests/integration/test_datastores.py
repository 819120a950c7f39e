"""The stack's data services are the real servers: PostgreSQL enforces row-level security for a
non-owner role, Redis round-trips, MinIO speaks S3, and ffmpeg/ffprobe make and read video."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from psycopg import errors

from club_devstack.stack import StackInfo


def test_forced_row_level_security_isolates_a_non_owner_role(stack: StackInfo, database: str) -> None:
    dbname = psycopg.conninfo.conninfo_to_dict(database)["dbname"]
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute("CREATE ROLE club_a LOGIN PASSWORD 'club-a-pw'")
        admin.execute("CREATE TABLE players (club_id text NOT NULL, name text NOT NULL)")
        admin.execute("ALTER TABLE players ENABLE ROW LEVEL SECURITY")
        admin.execute("ALTER TABLE players FORCE ROW LEVEL SECURITY")
        admin.execute(
            "CREATE POLICY tenant ON players"
            " USING (club_id = current_user) WITH CHECK (club_id = current_user)"
        )
        admin.execute("GRANT SELECT, INSERT ON players TO club_a")
        admin.execute("INSERT INTO players VALUES ('club_b', 'someone else'), ('club_a', 'ours')")

    with psycopg.connect(stack.postgres.dsn(dbname, user="club_a", password="club-a-pw")) as conn:
        assert conn.execute("SELECT name FROM players").fetchall() == [("ours",)]
        assert conn.execute("SELECT count(*) FROM players WHERE club_id = 'club_b'").fetchone() == (0,)
        with pytest.raises(errors.InsufficientPrivilege, match="row-level security"):
            conn.execute("INSERT INTO players VALUES ('club_b', 'smuggled')")
        conn.rollback()
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("ALTER TABLE players DISABLE ROW LEVEL SECURITY")

    with psycopg.connect(database) as admin:
        assert admin.execute("SELECT count(*) FROM players WHERE club_id = 'club_b'").fetchone() == (1,)


def test_redis_round_trip(redis_url: str) -> None:
    conn = redis.Redis.from_url(redis_url)
    conn.set("club:1:name", "Rovers", ex=60)
    conn.rpush("queue", "a", "b")
    assert conn.get("club:1:name") == b"Rovers"
    assert conn.lpop("queue") == b"a"
    assert 0 < int(conn.ttl("club:1:name")) <= 60


def test_s3_put_get_list_delete_on_minio(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="clubs/a/videos/1/master.m3u8", Body=b"#EXTM3U\n")
    s3.put_object(Bucket=bucket, Key="clubs/a/videos/2/master.m3u8", Body=b"#EXTM3U\n")
    got = s3.get_object(Bucket=bucket, Key="clubs/a/videos/1/master.m3u8")
    assert got["Body"].read() == b"#EXTM3U\n"
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="clubs/a/")
    assert [o["Key"] for o in listed["Contents"]] == [
        "clubs/a/videos/1/master.m3u8",
        "clubs/a/videos/2/master.m3u8",
    ]
    s3.delete_object(Bucket=bucket, Key="clubs/a/videos/1/master.m3u8")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 1
    with pytest.raises(s3.exceptions.NoSuchKey):
        s3.get_object(Bucket=bucket, Key="clubs/a/videos/1/master.m3u8")


def test_ffmpeg_makes_a_video_that_ffprobe_reads(stack: StackInfo, tmp_path: Path) -> None:
    out = tmp_path / "testsrc.mp4"
    subprocess.run(
        [
            str(stack.ffmpeg),
            "-hide_banner",
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=duration=5:size=640x360:rate=25",
            "-c:v",
            "libx264",
            "-pix_fmt",
            "yuv420p",
            str(out),
        ],
        check=True,
    )
    probe = subprocess.run(
        [
            str(stack.ffprobe),
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
            str(out),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(probe.stdout)
    (video,) = [s for s in info["streams"] if s["codec_type"] == "video"]
    assert (video["width"], video["height"]) == (640, 360)
    assert video["codec_name"] == "h264"
    assert float(info["format"]["duration"]) == pytest.approx(5.0, abs=0.04)
