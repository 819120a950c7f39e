"""Whether a server refuses a credential: what a test asks of PostgreSQL, MinIO and Redis once a
credential is rotated out or revoked."""

from __future__ import annotations

import boto3
import psycopg
import redis
from botocore.client import Config
from botocore.exceptions import ClientError


def database_refuses(dsn: str) -> bool:
    """PostgreSQL refuses a login with this connection string (a wrong password, a NOLOGIN role)."""
    try:
        with psycopg.connect(dsn, connect_timeout=5):
            return False
    except psycopg.OperationalError:
        return True


def storage_refuses(storage: dict[str, str], bucket: str) -> bool:
    """The S3 server refuses a listing of `bucket` with the storage Secret's key (an unknown key, or
    one without access)."""
    s3 = boto3.client(
        "s3",
        endpoint_url=storage["endpoint"],
        region_name=storage.get("region") or "us-east-1",
        aws_access_key_id=storage["accessKeyId"],
        aws_secret_access_key=storage["secretAccessKey"],
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )
    try:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=1)
    except ClientError as exc:
        return exc.response["Error"]["Code"] in {"InvalidAccessKeyId", "AccessDenied"}
    return False


def redis_refuses(url: str) -> bool:
    """Redis refuses to authenticate with the URL's user and password."""
    with redis.Redis.from_url(url, socket_timeout=5) as conn:
        try:
            conn.ping()
        except redis.exceptions.AuthenticationError:
            return True
    return False
