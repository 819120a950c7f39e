"""How much of its quota a club's bucket uses: `club_storage_used_bytes`, read after each reconcile
from the S3 server's data usage (MinIO's admin API), the same figure MinIO's scanner keeps and its
hard bucket quota is enforced on. It lags writes by the scanner's cycle (minutes), which is what
an alert at 90 % of the quota can afford.

One admin call per server per minute, whatever the number of clubs: the answer holds every bucket's
size and is kept for CACHE_SEC. A server that cannot answer leaves the club's last figure; nothing
here fails a reconcile."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any

import pydantic

from club_operator import club_servers, metrics, naming, s3_server
from club_operator.club import ClubObject
from club_operator.config import OperatorSettings
from club_operator.models import ClubSpec

log = logging.getLogger(__name__)

CACHE_SEC = 60.0
_lock = threading.Lock()
_usage: dict[str, tuple[float, dict[str, int]]] = {}  # endpoint -> (monotonic time read, bucket -> bytes)


def observe(club: ClubObject, settings: OperatorSettings) -> None:
    """Set the club's used bytes when its Club has a quota (the alert compares the two)."""
    try:
        spec = ClubSpec.model_validate(club.spec)
    except pydantic.ValidationError:
        return
    if spec.suspend or spec.storage.quota_bytes is None:
        return
    names = naming.build_names(
        club.namespace, club.name, spec, settings.shared_database_name, provisioned_role=club.provisioned_role
    )
    try:
        server = club_servers.storage_server(spec, club.namespace, settings)
        sizes = bucket_sizes(server)
    except Exception as exc:  # a figure for an alert: never a reason for the reconcile to fail
        log.info("storage usage of %s/%s not read: %s", club.namespace, club.name, exc.__class__.__name__)
        return
    if names.bucket in sizes:
        metrics.STORAGE_USED.labels(club.namespace, club.name).set(sizes[names.bucket])


def sizes_from(data_usage: Any) -> dict[str, int]:
    """Bucket sizes from MinIO's data usage answer (`bucketsUsageInfo: {bucket: {size: ...}}`)."""
    buckets = data_usage.get("bucketsUsageInfo") if isinstance(data_usage, dict) else None
    if not isinstance(buckets, dict):
        return {}
    return {
        name: int(info["size"])
        for name, info in buckets.items()
        if isinstance(info, dict) and isinstance(info.get("size"), int)
    }


def bucket_sizes(server: s3_server.S3Server) -> dict[str, int]:
    """Every bucket's size on the server, as its data usage says, read at most once per CACHE_SEC."""
    now = time.monotonic()
    with _lock:
        cached = _usage.get(server.endpoint)
    if cached is not None and now - cached[0] < CACHE_SEC:
        return cached[1]
    s3_server.check_kind(server)
    sizes = sizes_from(json.loads(s3_server.admin_client(server).get_data_usage_info() or "{}"))
    with _lock:
        _usage[server.endpoint] = (now, sizes)
    return sizes
