"""Which PostgreSQL and S3 servers a Club uses: the ones its spec names by Secret, or the
operator's defaults. Reading a Secret is the only I/O here (through `kube`).

A DSN that can never work (it does not parse, its port is not a port, its Secret's value is not
text) is `InvalidServer`, named by where it came from (the Secret and key, or the operator
setting) and never quoted: the Club reports InvalidSpec instead of retrying a connection forever."""

from __future__ import annotations

from club_operator import kube
from club_operator.config import OperatorSettings
from club_operator.database import InvalidServer, Server
from club_operator.models import ClubSpec
from club_operator.storage import S3Server


class ServerNotConfigured(LookupError):
    """The Secret the spec names does not exist (yet), or lacks a key; or there is no default."""


def database_server(spec: ClubSpec, namespace: str, settings: OperatorSettings) -> Server:
    ref = spec.database.server_secret_ref
    if ref is None:
        dsn = settings.database_admin_dsn.get_secret_value()
        if not dsn:
            raise ServerNotConfigured("no database server Secret in the spec and no operator default")
        return checked(Server(dsn, settings.connect_timeout_sec), "operator setting database_admin_dsn")
    where = f"Secret {namespace}/{ref.name} key {ref.key!r} (spec.database.serverSecretRef)"
    try:
        value = kube.read_secret_key(namespace, ref.name, ref.key)
    except kube.InvalidSecret as exc:
        raise InvalidServer(f"{exc} (spec.database.serverSecretRef)") from exc
    if not value:
        raise ServerNotConfigured(f"Secret {namespace}/{ref.name} with key {ref.key!r} not found")
    return checked(Server(value, settings.connect_timeout_sec), where)


def checked(server: Server, where: str) -> Server:
    """`server` if its DSN parses and names one port between 1 and 65535; else InvalidServer that
    says `where` the DSN came from and which part is wrong, without quoting it."""
    try:
        port = str(server.params.get("port") or "5432")
    except InvalidServer as exc:
        raise InvalidServer(f"{where}: {exc}") from exc
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidServer(f"{where}: the DSN's port must be one number between 1 and 65535")
    return server


def storage_server(spec: ClubSpec, namespace: str, settings: OperatorSettings) -> S3Server:
    ref = spec.storage.server_secret_ref
    if ref is None:
        if not settings.s3_endpoint:
            raise ServerNotConfigured("no storage server Secret in the spec and no operator default")
        return S3Server(
            endpoint=settings.s3_endpoint,
            access_key=settings.s3_access_key.get_secret_value(),
            secret_key=settings.s3_secret_key.get_secret_value(),
            region=settings.s3_region,
            kind=settings.s3_kind,
        )
    data = kube.read_secret(namespace, ref.name)
    if data is None:
        raise ServerNotConfigured(f"Secret {namespace}/{ref.name} not found")
    missing = [k for k in ("endpoint", "accessKey", "secretKey") if not data.get(k)]
    if missing:
        raise ServerNotConfigured(f"Secret {namespace}/{ref.name} lacks {', '.join(missing)}")
    return S3Server(
        endpoint=data["endpoint"],
        access_key=data["accessKey"],
        secret_key=data["secretKey"],
        region=data.get("region") or settings.s3_region,
        kind=data.get("kind") or settings.s3_kind,
    )
