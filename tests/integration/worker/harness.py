"""Helpers of the worker tests: generated sources, a club handle, and real `club-runtime worker`
processes with the environment the operator would give them."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.rows import dict_row

from club_devstack.stack import StackInfo

FPS = 25


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def make_source(path: Path, *, width: int, height: int, seconds: float) -> Path:
    """A test pattern with a tone: H.264 + AAC in MP4 (moov at the end, as cameras write it)."""
    _ffmpeg(
        "-f", "lavfi", "-i", f"testsrc2=size={width}x{height}:rate={FPS}:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS * 2), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-b:a", "96k", "-shortest", str(path),
    )  # fmt: skip
    return path


@dataclass(frozen=True)
class Sources:
    hd_20s: Path
    small_360p: Path
    not_video: Path
    truncated: Path
    empty: Path


def make_sources(folder: Path) -> Sources:
    hd = make_source(folder / "hd.mp4", width=1920, height=1080, seconds=20)
    small = make_source(folder / "small.mp4", width=640, height=360, seconds=3)
    (folder / "notes.mp4").write_bytes(b"these are match notes, not a video\n" * 200)
    data = small.read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (folder / "empty.mp4").write_bytes(b"")
    return Sources(hd, small, folder / "notes.mp4", folder / "truncated.mp4", folder / "empty.mp4")


@dataclass
class Club:
    club_id: str
    slug: str
    dsn: str
    bucket: str

    def add_video(self, s3: Any, source: Path, *, title: str = "match") -> str:
        """Upload `source` and insert its row as the club's role, like the API does."""
        key = f"clubs/{self.slug}/uploads/{uuid.uuid4()}/{source.name}"
        s3.upload_file(str(source), self.bucket, key)
        with psycopg.connect(self.dsn) as conn:
            row = conn.execute(
                "INSERT INTO videos (title, source_key) VALUES (%s, %s) RETURNING id", (title, key)
            ).fetchone()
        assert row is not None
        return str(row[0])

    def video(self, video_id: str) -> dict[str, Any]:
        with psycopg.connect(self.dsn) as conn, conn.cursor(row_factory=dict_row) as cur:
            row = cur.execute("SELECT * FROM videos WHERE id = %s", (video_id,)).fetchone()
        assert row is not None
        return row


@dataclass(frozen=True)
class WorkerBed:
    """Everything a worker test uses: the stack, a club with its bucket and Redis, the sources."""

    stack: StackInfo
    club: Club
    s3: Any
    redis_url: str
    sources: Sources
    tmp_path: Path

    def env(self, **overrides: str) -> dict[str, str]:
        return worker_env(self.stack, self.club, self.redis_url, **overrides)


def worker_env(stack: StackInfo, club: Club, redis_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "PATH": os.environ["PATH"],
        "CLUB_ID": club.club_id,
        "CLUB_SLUG": club.slug,
        "DATABASE_URL": club.dsn,
        "REDIS_URL": redis_url,
        "S3_ENDPOINT_URL": stack.minio.endpoint,
        "S3_BUCKET": club.bucket,
        "S3_ACCESS_KEY_ID": stack.minio.access_key,
        "S3_SECRET_ACCESS_KEY": stack.minio.secret_key,
        "ENABLE_GPU": "auto",
        "VIDEO_X264_PRESET": "ultrafast",
        "THUMBNAIL_INTERVAL_SEC": "5",
        "WORKER_METRICS_PORT": "0",
        "VIDEO_RETRY_INTERVALS_SEC": "[1, 1, 1]",
        "LOG_LEVEL": "INFO",
    }
    env.update(overrides)
    return env


def start_worker(env: dict[str, str], *args: str, log: Path) -> subprocess.Popen[bytes]:
    """`club-runtime worker` in a session of its own (so a test can kill it like a pod dies)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "club_runtime", "worker", *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def run_burst_worker(env: dict[str, str], log: Path, *args: str) -> None:
    proc = start_worker(env, "--burst", *args, log=log)
    assert proc.wait(timeout=300) == 0, log.read_text()[-4000:]
