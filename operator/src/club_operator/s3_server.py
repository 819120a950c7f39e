"""An S3 server as the operator reaches it: its address and admin credentials (S3Server), the
clients made for it (shared by every reconcile thread), and the translation of the libraries'
errors into ours: unreachable, slow, 5xx or refusing the admin credentials gives
`StorageUnavailable` (retry later); a request the server rejects gives `StorageConflict`. Messages
name the endpoint and the resource, never a secret."""

from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import urllib3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from minio.credentials.providers import StaticProvider
from minio.error import MinioAdminException

from club_operator import minio_payload

if TYPE_CHECKING:
    from types_boto3_s3 import S3Client

log = logging.getLogger(__name__)

# The User-Agent of every request the operator makes to S3, so a server trace can single it out.
USER_AGENT = "club-operator-storage"
BAD_CLUB_CREDENTIALS = {"InvalidAccessKeyId", "SignatureDoesNotMatch"}
MISSING = frozenset({"404", "NoSuchBucket", "NoSuchKey", "NoSuchLifecycleConfiguration", "NotFound"})
"""The error codes of a bucket, object or bucket configuration that does not exist."""
_BAD_ADMIN_CREDENTIALS = BAD_CLUB_CREDENTIALS | {"AccessDenied", "XMinioAdminInvalidAccessKey"}


@dataclass(frozen=True)
class S3Server:
    """The server named by a Secret or the operator's default, with admin credentials."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    kind: str = "minio"
    timeout_s: float = 5.0  # per connect and per read; a down server fails within seconds

    def __repr__(self) -> str:
        return f"S3Server(endpoint={self.endpoint!r}, kind={self.kind!r})"


class StorageUnavailable(Exception):
    """The server is unreachable, too slow, failing (5xx) or refuses the admin credentials."""


class StorageConflict(Exception):
    """The server refuses the plan itself (bucket owned by someone else, invalid name, ...)."""


# Clients


# Clients are made once and shared by every reconcile thread: making one costs more CPU than the
# requests a reconcile sends with it (boto3 loads its service model, MinIO's admin sets up a pool).
# Both kinds are thread-safe once made; making them is not, hence the lock.
_clients_lock = threading.Lock()
_admins: dict[S3Server, Any] = {}
_s3_clients: OrderedDict[tuple[S3Server, str, str], S3Client] = OrderedDict()
# The admin's client per server, and a club's own for the last clubs reconciled (a resync goes round
# them all, so a club's client is mostly found again only while it is being provisioned). Each costs
# about 0.3 MiB and 12 ms of CPU to make: 16 of them, not 64, hold some 15 MiB less at 200 Clubs.
_CLUB_CLIENTS = 16
_POOL_SIZE = 16  # connections kept per server: about as many as reconciles run at once


def s3_client(server: S3Server, access_key: str, secret_key: str) -> S3Client:
    check_kind(server)
    key = (server, access_key, secret_key)
    with _clients_lock:
        found = _s3_clients.get(key)
        if found is None:
            found = _s3_clients[key] = _make_s3(server, access_key, secret_key)
            clubs = [k for k in _s3_clients if k[1] != k[0].access_key]
            for oldest in clubs[: max(0, len(clubs) - _CLUB_CLIENTS)]:
                del _s3_clients[oldest]
        _s3_clients.move_to_end(key)
        return found


def admin_s3(server: S3Server) -> S3Client:
    """The S3 client with the server's admin credentials."""
    return s3_client(server, server.access_key, server.secret_key)


def _make_s3(server: S3Server, access_key: str, secret_key: str) -> S3Client:
    config = Config(
        connect_timeout=server.timeout_s,
        read_timeout=server.timeout_s,
        retries={"mode": "standard", "max_attempts": 2},
        user_agent_extra=USER_AGENT,
        s3={"addressing_style": "path"},
        max_pool_connections=_POOL_SIZE,
    )
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=server.region,
        config=config,
    )


def admin_client(server: S3Server) -> Any:
    with _clients_lock:
        found = _admins.get(server)
        if found is None:
            found = _admins[server] = _make_admin(server)
        return found


def _make_admin(server: S3Server) -> Any:
    url = urlsplit(server.endpoint)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=server.timeout_s, read=server.timeout_s),
        # One retry on a dropped connection; none on 5xx, which the caller retries with backoff.
        retries=urllib3.Retry(total=1, status=0, backoff_factor=0.2),
        maxsize=_POOL_SIZE,
    )
    admin = minio_payload.SealingAdmin(
        endpoint=url.netloc.rpartition("@")[2],
        credentials=StaticProvider(server.access_key, server.secret_key),
        region=server.region,
        secure=url.scheme == "https",
        http_client=http,
    )
    admin.set_app_info(USER_AGENT, "1")
    return admin


def check_kind(server: S3Server) -> None:
    if server.kind != "minio":
        raise StorageConflict(
            f"S3 server kind {server.kind!r} is not supported yet (only 'minio'): on AWS, IAM "
            "generates the access key's secret, which a StoragePlan cannot carry"
        )


# Error translation


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def admin_status(exc: MinioAdminException) -> int:
    return int(getattr(exc, "_code", 0) or 0)


def _admin_error(exc: MinioAdminException) -> str:
    """The error code and message of an admin API answer (names and reasons, no secrets)."""
    try:
        body = json.loads(getattr(exc, "_body", "") or "{}")
    except ValueError:
        return ""
    return f"{body.get('Code', '')}: {body.get('Message', '')}"


@contextmanager
def translated(server: S3Server, doing: str) -> Iterator[None]:
    """Turn the libraries' errors into StorageUnavailable / StorageConflict, keeping the cause."""
    where = f"S3 server {_safe_endpoint(server.endpoint)} while {doing}"
    try:
        yield
    except (StorageUnavailable, StorageConflict):
        raise
    except ClientError as exc:
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
        message = f"{where}: {error_code(exc)} {exc.response.get('Error', {}).get('Message', '')}".strip()
        if status >= 500 or error_code(exc) in _BAD_ADMIN_CREDENTIALS:
            raise StorageUnavailable(message) from exc
        raise StorageConflict(message) from exc
    except ParamValidationError as exc:
        raise StorageConflict(f"{where}: invalid request: {exc}") from exc
    except MinioAdminException as exc:
        message = f"{where}: admin API answered {admin_status(exc)} {_admin_error(exc)}"
        if admin_status(exc) >= 500 or admin_status(exc) == 403:
            raise StorageUnavailable(message) from exc
        raise StorageConflict(message) from exc
    except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageUnavailable(f"{where}: unreachable ({type(exc).__name__})") from exc


def _safe_endpoint(endpoint: str) -> str:
    url = urlsplit(endpoint)
    return f"{url.scheme}://{url.hostname}" + (f":{url.port}" if url.port else "")


def remove_user_and_policy(admin: Any, user: str, policy: str, what: str) -> None:
    """Remove an S3 user, then its policy (`what` names them in the log: "user", "backup user").
    The user first: MinIO refuses to remove a policy that is still attached. A missing user (MinIO
    answers 404) or policy (removed without complaint) is fine."""
    for kind, remove, name in (
        (what, admin.user_remove, user),
        (f"{what} policy", admin.policy_remove, policy),
    ):
        try:
            remove(name)
        except MinioAdminException as exc:
            if admin_status(exc) != 404:
                raise
        else:
            log.info("Removed %s %s", kind, name)
