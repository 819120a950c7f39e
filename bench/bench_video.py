"""Benchmark of the video pipeline: a generated 1080p source through the real worker (RQ, MinIO,
PostgreSQL, ffmpeg) against the bare ffmpeg commands that produce the same outputs, in the same run.

Prints the overhead ratio (pipeline / bare ffmpeg; the goal is at most 1.10x), the real-time factor
(source seconds per wall second) and the projected time for a 90-minute match.

    .venv/bin/python bench/bench_video.py [--seconds 60]

It reuses the stack named by CLUB_STACK_FILE (`make stack`), or starts one of its own.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import psycopg
import redis
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from rq import Queue
from rq.job import Job, JobStatus

from club_devstack import stack as stack_module
from club_devstack.stack import StackInfo
from club_runtime import settings as runtime_settings
from club_runtime.db import migrate, tenancy
from club_runtime.media import commands, ladder, runner
from club_runtime.worker import cli
from club_runtime.worker.jobs import SERIALIZER, video

MATCH_SEC = 90 * 60
# Steps of the job's timings that are ffmpeg/ffprobe running (the rest is the pipeline's own work).
FFMPEG_STEPS = ("probe", "transcode", "poster", "clips")


def make_source(path: Path, seconds: int) -> None:
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size=1920x1080:rate=25:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-g", "50", "-c:a", "aac", "-shortest", str(path)],
        check=True,
    )  # fmt: skip


def bare_ffmpeg(source: Path, out: Path, preset: str, gpu: str, threads: int) -> float:
    """The same ffmpeg commands the pipeline runs (ladder + thumbnails, poster), timed alone."""
    info = runner.probe_media("ffprobe", str(source))
    plan = ladder.plan_renditions(info)
    encoder = runner.detect_encoder("ffmpeg", runtime_settings.GpuMode(gpu), preset)
    for r in plan:
        (out / r.name).mkdir(parents=True)
    (out / "thumbnails").mkdir(parents=True)
    spec = commands.LadderSpec(
        source=source, out_dir=out, renditions=plan, encoder=encoder, has_audio=info.has_audio,
        segment_sec=6, thumbnail_interval_sec=10, threads=threads,
    )  # fmt: skip
    started = time.perf_counter()
    runner.run_ffmpeg(commands.build_ladder_args("ffmpeg", spec))
    runner.run_ffmpeg(
        commands.build_poster_args(
            "ffmpeg", source, out / "poster.jpg", duration_sec=info.duration_sec, height=info.height
        )
    )
    return time.perf_counter() - started


def add_video(club_dsn: str, key: str) -> str:
    with psycopg.connect(club_dsn) as conn:
        row = conn.execute(
            "INSERT INTO videos (title, source_key) VALUES ('bench', %s) RETURNING id", (key,)
        ).fetchone()
    assert row is not None
    return str(row[0])


def provision(stack: StackInfo, s3: object, source: Path) -> tuple[dict[str, str], str, str, str, str]:
    """A database with the club schema, the club's role, a bucket and the uploaded source."""
    dbname = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    admin = stack.postgres.dsn(dbname)
    migrate.migrate(admin)
    club_id, role, password = str(uuid.uuid4()), f"bench_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    tenancy.provision_club(admin, club_id, "bench-fc", role, password)
    club_dsn = stack.postgres.dsn(str(conninfo_to_dict(admin)["dbname"]), user=role, password=password)
    bucket = f"bench-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    key = f"clubs/bench-fc/uploads/{source.name}"
    s3.upload_file(str(source), bucket, key)  # type: ignore[attr-defined]
    env = {
        "CLUB_ID": club_id, "CLUB_SLUG": "bench-fc", "DATABASE_URL": club_dsn,
        "S3_ENDPOINT_URL": stack.minio.endpoint, "S3_BUCKET": bucket,
        "S3_ACCESS_KEY_ID": stack.minio.access_key, "S3_SECRET_ACCESS_KEY": stack.minio.secret_key,
        "WORKER_METRICS_PORT": "0", "THUMBNAIL_INTERVAL_SEC": "10",
    }  # fmt: skip
    return env, club_id, club_dsn, key, dbname


def pipeline(
    stack: StackInfo, env: dict[str, str], club_id: str, video_id: str
) -> tuple[float, dict[str, float]]:
    """Enqueue the job as the API does and time a burst worker until it has finished it."""
    os.environ.update(env)
    runtime_settings.get_settings.cache_clear()
    settings = runtime_settings.get_settings()
    conn = redis.Redis.from_url(settings.redis_url.get_secret_value())
    conn.flushdb()
    queue = Queue(settings.queue_video, connection=conn, serializer=SERIALIZER)
    job = queue.enqueue(
        video.FUNCTION, kwargs={"club_id": club_id, "video_id": video_id}, job_id=video.job_id(video_id)
    )
    worker = cli.make_worker(settings, [settings.queue_video])
    started = time.perf_counter()
    worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    done = Job.fetch(job.id, connection=conn, serializer=SERIALIZER)
    if done.get_status() != JobStatus.FINISHED:
        raise SystemExit(f"the video job ended {done.get_status()}")
    result = done.return_value() or {}
    return elapsed, dict(result.get("timings", {}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="source length (default: 60)")
    parser.add_argument("--preset", default="veryfast", help="x264 preset (default: the runtime's veryfast)")
    parser.add_argument("--gpu", default="auto", choices=["auto", "true", "false"])
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2, help="alternating rounds of each (default: 2)")
    parser.add_argument("--redis-db", type=int, default=15, help="Redis database to use (flushed)")
    args = parser.parse_args()
    with stack_module.running() as stack:
        run(args, stack)


def run(args: argparse.Namespace, stack: StackInfo) -> None:
    os.environ.update(
        VIDEO_X264_PRESET=args.preset, ENABLE_GPU=args.gpu, FFMPEG_THREADS=str(args.threads),
        REDIS_URL=stack.redis.url(args.redis_db), LOG_LEVEL="WARNING",
    )  # fmt: skip
    s3 = boto3.client(
        "s3", endpoint_url=stack.minio.endpoint, aws_access_key_id=stack.minio.access_key,
        aws_secret_access_key=stack.minio.secret_key, region_name="us-east-1",
    )  # fmt: skip
    bare: list[float] = []
    piped: list[float] = []
    steps: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(prefix="bench-video-") as tmp:
        source = Path(tmp) / "match.mp4"
        print(f"generating a {args.seconds}s 1080p25 source ...", flush=True)
        make_source(source, args.seconds)
        env, club_id, club_dsn, key, dbname = provision(stack, s3, source)
        # Alternate (bare, pipeline, pipeline, bare, ...) so that drift in machine load hits both.
        for n in range(args.rounds):
            order = ("bare", "pipeline") if n % 2 == 0 else ("pipeline", "bare")
            for kind in order:
                if kind == "bare":
                    bare.append(
                        bare_ffmpeg(source, Path(tmp) / f"bare-{n}", args.preset, args.gpu, args.threads)
                    )
                else:
                    elapsed, timings = pipeline(stack, env, club_id, add_video(club_dsn, key))
                    piped.append(elapsed)
                    steps.append(timings)
                print(
                    f"  round {n + 1} {kind:8s} {(bare if kind == 'bare' else piped)[-1]:8.2f} s", flush=True
                )
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(dbname)))
    encoder = runner.detect_encoder("ffmpeg", runtime_settings.GpuMode(args.gpu), args.preset)
    best_bare, best_piped = min(bare), min(piped)
    rtf = args.seconds / best_piped
    print(f"best of {args.rounds} round(s) each (the least disturbed by other load on the machine):")
    print(f"encoder            {encoder.codec} (preset {args.preset}, gpu={args.gpu})")
    print(f"source             {args.seconds}s 1080p25, ladder 720p/480p/360p, thumbnails every 10s, poster")
    print(f"bare ffmpeg        {best_bare:8.2f} s")
    print(f"pipeline           {best_piped:8.2f} s  (download, probe, transcode, upload, database, RQ)")
    timings = steps[piped.index(best_piped)]
    breakdown = ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
    in_ffmpeg = sum(v for k, v in timings.items() if k in FFMPEG_STEPS)
    outside = best_piped - in_ffmpeg
    print(f"  its steps (s)    {breakdown}")
    share = outside / best_piped
    print(f"  outside ffmpeg   {outside:8.2f} s  ({share:.1%} of the pipeline; steadier than the ratio)")
    print(f"overhead ratio     {best_piped / best_bare:8.3f} x  (goal <= 1.10)")
    paired = ", ".join(f"{p / b:.3f}" for p, b in zip(piped, bare, strict=True))
    print(f"  per round        {paired}  (pipeline / bare ffmpeg, run back to back)")
    print(f"real-time factor   {rtf:8.2f} x  (source seconds per wall second)")
    print(f"90-minute match    {MATCH_SEC / rtf / 60:8.1f} min projected")


if __name__ == "__main__":
    main()
