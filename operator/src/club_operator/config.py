"""Operator settings: the one place that reads the environment (variables prefixed CLUB_OPERATOR_).

The default servers are used by every Club that names no Secret of its own; in a cluster they come
from a Secret mounted as environment variables."""

from __future__ import annotations

import functools
import os
import socket

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from club_operator.models import Toleration


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLUB_OPERATOR_", case_sensitive=False, extra="ignore")

    # The default PostgreSQL server: a superuser-like DSN that may create roles and databases.
    database_admin_dsn: SecretStr = Field(default=SecretStr(""))
    shared_database_name: str = "clubs"

    # The default S3 server.
    s3_endpoint: str = ""
    s3_access_key: SecretStr = Field(default=SecretStr(""))
    s3_secret_key: SecretStr = Field(default=SecretStr(""))
    s3_region: str = "us-east-1"
    s3_kind: str = "minio"
    # The bucket every club's backups go to, one per S3 server (created there, versioned; each club
    # writes only under clubs/<its tenant id>/ with credentials of its own: backup_storage.py).
    backup_bucket: str = "club-backups"

    default_runtime_image: str = "club-runtime:0.1.0"
    # Where every Club's pods may run, as the platform decides (JSON in the environment, e.g.
    # CLUB_OPERATOR_POD_NODE_SELECTOR='{"pool": "clubs"}', CLUB_OPERATOR_POD_TOLERATIONS=
    # '[{"key": "clubs", "operator": "Exists", "effect": "NoSchedule"}]'). GPU video workers with a
    # nodeSelector of their own (spec.workers.video.gpu) go there instead; their tolerations add.
    pod_node_selector: dict[str, str] = Field(default_factory=dict)
    pod_tolerations: tuple[Toleration, ...] = ()

    # The Redis the clubs' API and workers use (queues are named per club, see redis_target.py).
    redis_url: SecretStr = Field(default=SecretStr("redis://127.0.0.1:6379/0"))

    # How often the timer re-checks every Club (drift repair and the isolation probe), in seconds.
    resync_interval_sec: float = 60.0
    # The longest a token the clubs' runtime issues stays valid (its JWT_REFRESH_TTL_SEC, 24h): a
    # rotated-out JWT signing key is removed only once every token it signed has expired (rotation.py).
    jwt_token_lifetime_sec: float = 86400.0
    # Backoff for a dependency that is down.
    retry_delay_sec: float = 10.0
    # How long deletion keeps retrying a server that is gone before giving up on its cleanup.
    deletion_give_up_after_sec: float = 120.0

    # Reconciles that run at once (kopf's thread pool): they mostly wait on the API server, PostgreSQL
    # and S3, so more than kopf's default (CPUs + 4) keeps those busy while Clubs are provisioned.
    max_workers: int = 16
    # Resyncs that run at once (reconcile_threads.py): they give way to the reconciles of Clubs that
    # changed, and a few are enough to go round every Club within an interval.
    resync_workers: int = 4

    # The worker pools' KEDA ScaledObjects: how often KEDA reads the queues, and how long a pool stays
    # up after its queues empty before KEDA scales it to zero (pollingInterval, cooldownPeriod), in
    # seconds.
    keda_polling_interval_sec: int = 15
    keda_cooldown_sec: int = 300

    # Leader election (leader.py): replicas share one Lease and only its holder runs the handlers.
    # Off for a single process (local runs, tests); the chart turns it on, the Lease in its own
    # namespace and the pod's name as the identity (downward API). The holder renews every
    # leader_renew_interval_sec and steps down (exits) when it has not renewed for
    # leader_lease_duration_sec - leader_renew_interval_sec; a standby tries every
    # leader_retry_interval_sec and takes a Lease not renewed for leader_lease_duration_sec.
    leader_election: bool = False
    leader_lease_name: str = "club-operator"
    leader_lease_namespace: str = ""
    leader_identity: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")
    leader_lease_duration_sec: float = 15.0
    leader_renew_interval_sec: float = 5.0
    leader_retry_interval_sec: float = 2.0

    metrics_port: int = 8080
    # The liveness probe fails when the Club watch stays behind a direct LIST for this long.
    watch_stall_grace_sec: float = 60.0
    health_interval_sec: float = 5.0
    connect_timeout_sec: int = 5


@functools.cache
def get_settings() -> OperatorSettings:
    return OperatorSettings()
