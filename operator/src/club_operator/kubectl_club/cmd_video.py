"""`video submit|watch|outputs`: upload a file into the Club's bucket with the Club's own S3
credentials (its storage Secret, the ones its pods use) and create the VideoJob that names it; follow
a VideoJob's progress; list what it produced."""

from __future__ import annotations

import base64
import sys
import time
from pathlib import Path
from typing import Any

from club_operator import credentials, naming
from club_operator.kubectl_club import render, requests
from club_operator.kubectl_club.context import POLL_SEC, Context
from club_operator.kubectl_club.errors import PluginError
from club_operator.models import ClubSpec

DONE = ("Succeeded", "Failed")


def _storage(ctx: Context, club: dict[str, Any]) -> dict[str, str]:
    spec = ClubSpec.model_validate(club.get("spec") or {})
    names = naming.build_names(ctx.cluster.namespace, club["metadata"]["name"], spec, "")
    data = ctx.cluster.secret(names.storage_secret)
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def _upload(path: Path, storage: dict[str, str], bucket: str, key: str, endpoint: str) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=storage.get("region") or "us-east-1",
        aws_access_key_id=storage["accessKeyId"],
        aws_secret_access_key=storage[credentials.STORAGE_SECRET_KEY],
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 2}, connect_timeout=5),
    )
    try:
        s3.upload_file(str(path), bucket, key)
    except (BotoCoreError, ClientError) as exc:
        # The message names the operation and the server's answer, never the credentials.
        raise PluginError(f"uploading {path.name} to s3://{bucket}/{key} at {endpoint}: {exc}") from exc


def submit(ctx: Context) -> int:
    path = Path(ctx.args.file)
    if not path.is_file():
        raise PluginError(f"{ctx.args.file}: no such file")
    club = ctx.cluster.get("Club", ctx.args.club)
    name = club["metadata"]["name"]
    storage = _storage(ctx, club)
    bucket = (club.get("status") or {}).get("bucket") or storage.get("bucket")
    endpoint = ctx.args.s3_endpoint or storage.get("endpoint")
    if not bucket or not endpoint or "accessKeyId" not in storage:
        raise PluginError(f'Club "{name}" has no storage yet (no bucket or credentials): is it Ready?')
    now = ctx.now()
    key = requests.upload_key(path.name, now)
    _upload(path, storage, bucket, key, endpoint)
    job = ctx.cluster.create(requests.video_job(name, key, now, priority=ctx.args.priority, gpu=ctx.args.gpu))
    job_name = job["metadata"]["name"]
    if not ctx.args.watch:
        if not ctx.document(job):
            ctx.say(f"uploaded s3://{bucket}/{key}")
            ctx.say(f"videojob.footballclub.io/{job_name} created")
        return 0
    if ctx.output not in ("json", "yaml"):
        ctx.say(f"uploaded s3://{bucket}/{key}; videojob.footballclub.io/{job_name} created")
    return _watch(ctx, job_name)


def watch(ctx: Context) -> int:
    return _watch(ctx, ctx.args.name)


def _watch(ctx: Context, name: str) -> int:
    """Poll the VideoJob until it finishes: a bar redrawn in place on a terminal, a line per change
    otherwise. Exit 0 when it Succeeded, 1 when it Failed."""
    tty = ctx.out.isatty() and ctx.output not in ("json", "yaml")
    deadline = time.monotonic() + ctx.args.timeout
    last = ""
    while True:
        job = ctx.cluster.get("VideoJob", name)
        phase = str((job.get("status") or {}).get("phase") or "Pending")
        line = render.video_line(job)
        if line != last and ctx.output not in ("json", "yaml"):
            if tty:
                ctx.out.write("\r\033[K" + line)
                ctx.out.flush()
            else:
                ctx.say(line)
            last = line
        if phase in DONE:
            if tty:
                ctx.out.write("\n")
            if not ctx.document(job) and phase == "Succeeded":
                ctx.say(f"outputs: {((job.get('status') or {}).get('outputs') or {}).get('prefix') or '-'}")
            return 0 if phase == "Succeeded" else 1
        if time.monotonic() > deadline:
            if tty:
                ctx.out.write("\n")
            raise PluginError(
                f"timed out after {ctx.args.timeout:g}s waiting for VideoJob {name!r} ({phase})"
            )
        time.sleep(POLL_SEC)


def outputs(ctx: Context) -> int:
    job = ctx.cluster.get("VideoJob", ctx.args.name)
    status = job.get("status") or {}
    if ctx.document(status.get("outputs") or {}):
        return 0
    phase = status.get("phase") or "Pending"
    if phase != "Succeeded":
        print(f'VideoJob "{ctx.args.name}" is {phase}: no outputs yet', file=sys.stderr)
        return 1
    bucket = None
    club = render.club_of(job)
    if club:
        try:
            bucket = (ctx.cluster.get("Club", club).get("status") or {}).get("bucket")
        except PluginError:
            bucket = None  # the Club may be gone; its keys are still worth printing
    for key in render.video_outputs(job, bucket):
        ctx.say(key)
    return 0
