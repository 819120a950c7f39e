"""Runtime settings: the one place that reads the environment. The operator sets these variables
(and mounts the secrets they name) on the API and worker Deployments."""

from __future__ import annotations

import functools
from enum import StrEnum

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class GpuMode(StrEnum):
    AUTO = "auto"
    TRUE = "true"
    FALSE = "false"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # Identity of the club this process serves.
    club_id: str = Field(default="", description="UUID of the club (tenant) this process serves")
    club_slug: str = Field(default="", description="the Club resource's name, used in object keys and logs")

    # PostgreSQL: the club's own login role (owns nothing, no BYPASSRLS).
    database_url: SecretStr = Field(default=SecretStr(""), description="libpq DSN of the club's role")
    database_admin_url: SecretStr = Field(
        default=SecretStr(""), description="DSN of the migration owner, used only by `club-runtime migrate`"
    )
    database_pool_min: int = 1
    database_pool_max: int = 10

    # Redis and queues (the same names in the API, the workers, the operator and the alerts). REDIS_URL
    # logs in as the club's own Redis user, which may touch only keys under RQ_KEY_PREFIX: RQ reads that
    # variable itself, once, at import (rq.defaults), and the lease (worker.lease) takes it from there.
    redis_url: SecretStr = Field(default=SecretStr("redis://127.0.0.1:6379/0"))
    queue_default: str = "default"
    queue_video: str = "video"

    # S3: the club's bucket and its own credentials.
    s3_endpoint_url: str = ""
    s3_region: str = "us-east-1"
    s3_bucket: str = ""
    s3_access_key_id: SecretStr = Field(default=SecretStr(""))
    s3_secret_access_key: SecretStr = Field(default=SecretStr(""))

    # Auth: the JWT key set is JSON {"active": kid, "keys": {kid: secret}}; every key in it verifies.
    jwt_keys: SecretStr = Field(default=SecretStr(""))
    jwt_access_ttl_sec: int = 900
    jwt_refresh_ttl_sec: int = 86400
    login_max_failures: int = 5
    login_lockout_sec: int = 900
    bootstrap_owner_email: str = ""
    bootstrap_owner_password: SecretStr = Field(default=SecretStr(""))

    # Uploads and video processing.
    upload_max_size_mb: int = 2048
    presign_ttl_sec: int = 300
    enable_gpu: GpuMode = GpuMode.AUTO
    ffmpeg_threads: int = 0
    video_process_timeout_sec: int = 3600
    hls_segment_sec: int = 6
    thumbnail_interval_sec: int = 10
    video_renditions: list[str] = Field(default=["720p", "480p", "360p"], description="HLS ladder heights")
    video_x264_preset: str = "veryfast"
    video_retry_intervals_sec: list[int] = Field(
        default=[10, 60, 300], description="backoff before each retry of a failed or abandoned video job"
    )
    video_lease_ttl_sec: int = Field(default=60, description="how long a dead holder keeps a video's lease")
    upload_concurrency: int = 8
    ffmpeg_path: str = "ffmpeg"
    ffprobe_path: str = "ffprobe"

    # Workers (RQ): heartbeats, abandoned-job detection and the metrics endpoint.
    worker_job_monitoring_interval_sec: int = 30
    worker_heartbeat_grace_sec: int = Field(
        default=60, description="a job whose worker missed heartbeats this long is abandoned and retried"
    )
    worker_maintenance_interval_sec: int = 60
    worker_metrics_port: int = 9100

    # Backups (`club-runtime backup | verify | restore`): a bucket (or a prefix of one) of their own,
    # reached with credentials of their own that the club's runtime does not hold. Unset endpoint and
    # region fall back to the club's S3 settings.
    backup_s3_endpoint_url: str = ""
    backup_s3_region: str = ""
    backup_s3_bucket: str = ""
    backup_s3_prefix: str = Field(default="", description="empty or ending with '/'")
    backup_s3_access_key_id: SecretStr = Field(default=SecretStr(""))
    backup_s3_secret_access_key: SecretStr = Field(default=SecretStr(""))
    backup_id: str = Field(default="", description="the backup to take (default: one named by time) or read")
    backup_club_id: str = Field(default="", description="whose backup a restore reads (default: CLUB_ID)")
    backup_part_size_mb: int = Field(default=8, ge=5, le=512, description="multipart upload part size")
    backup_compression_level: int = Field(default=1, ge=0, le=9, description="gzip level (1: fastest)")
    backup_verify_admin_url: SecretStr = Field(
        default=SecretStr(""),
        description="DSN of a role that may create databases and roles, where verify restores into a "
        "scratch database (default: DATABASE_ADMIN_URL)",
    )

    # HTTP server of `club-runtime api`.
    api_host: str = "0.0.0.0"  # noqa: S104 - the pod's port; NetworkPolicy decides who reaches it
    api_port: int = 8000

    log_level: str = "INFO"


@functools.cache
def get_settings() -> Settings:
    return Settings()
