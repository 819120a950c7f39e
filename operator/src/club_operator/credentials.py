"""The Club's Secrets: database credentials, the JWT key set, S3 credentials and the bootstrap owner.

Generated once (the only randomness in the operator lives in the `generate_*` functions), stored in
Secrets owned by the Club, never logged or put in Events or status. The `build_*` functions are pure."""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Any

from club_operator.naming import ClubNames

DB_PASSWORD = "password"  # noqa: S105 - the key's name, not a password
STORAGE_SECRET_KEY = "secretAccessKey"  # noqa: S105
BACKUP_SECRET_KEY = "secretKey"  # noqa: S105
OWNER_PASSWORD = "password"  # noqa: S105
JWT_KEYS = "keys"
REDIS_USERNAME = "username"
REDIS_PASSWORD = "password"  # noqa: S105
JWT_MIN_SECRET = 32  # as the runtime's key set requires (club_runtime.core.security.KeySet)


class InvalidKeySet(ValueError):
    """The JWT key set does not have the shape the runtime needs; the message says what is wrong
    without quoting it."""


@dataclass(frozen=True)
class Owner:
    """The object the Secrets belong to: deleting the Club deletes them."""

    api_version: str
    kind: str
    name: str
    uid: str

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def generate_password() -> str:
    return secrets.token_urlsafe(32)


def generate_jwt_key() -> tuple[str, str]:
    """A new signing key: (kid, secret)."""
    return secrets.token_hex(8), secrets.token_urlsafe(48)


def generate_jwt_keys() -> str:
    kid, secret = generate_jwt_key()
    return json.dumps({"active": kid, "keys": {kid: secret}}, sort_keys=True)


def add_jwt_key(keys_json: str, kid: str, secret: str) -> str:
    """The key set with `kid` added to verify; the signer stays as it is."""
    data = json.loads(keys_json)
    return json.dumps({"active": data["active"], "keys": {**data["keys"], kid: secret}}, sort_keys=True)


def activate_jwt_key(keys_json: str, kid: str) -> str:
    """The key set with `kid` (one of its keys) made the signer; every key keeps verifying."""
    data = json.loads(keys_json)
    if kid not in data["keys"]:
        raise InvalidKeySet("the key to make the signer is not in the key set")
    return json.dumps({"active": kid, "keys": data["keys"]}, sort_keys=True)


def keep_active_key(keys_json: str) -> str:
    """The key set with only its signing key: a token any other key signed is refused."""
    data = json.loads(keys_json)
    active = data["active"]
    return json.dumps({"active": active, "keys": {active: data["keys"][active]}}, sort_keys=True)


def key_ids(keys_json: str) -> frozenset[str]:
    """The kids of a key set that active_key_id accepted."""
    return frozenset(json.loads(keys_json)["keys"])


def active_key_id(keys_json: str) -> str:
    """The kid of the key that signs new tokens, from a key set {"active": kid, "keys": {kid: secret}}
    (the runtime's JWT_KEYS). InvalidKeySet when the runtime would refuse it."""
    try:
        data = json.loads(keys_json)
    except json.JSONDecodeError as exc:
        raise InvalidKeySet(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from exc
    if not isinstance(data, dict):
        raise InvalidKeySet('not a JSON object {"active": kid, "keys": {kid: secret}}')
    keys, active = data.get("keys"), data.get("active")
    if not isinstance(keys, dict) or not keys or not all(isinstance(v, str) for v in keys.values()):
        raise InvalidKeySet('"keys" must map each kid to its secret (a string)')
    if not isinstance(active, str) or active not in keys:
        raise InvalidKeySet('"active" must be the kid of one of the keys')
    if any(len(secret) < JWT_MIN_SECRET for secret in keys.values()):
        raise InvalidKeySet(f"every secret must be at least {JWT_MIN_SECRET} characters")
    return active


def _secret(names: ClubNames, owner: Owner, name: str, data: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {
            "name": name,
            "namespace": names.namespace,
            "labels": names.labels(),
            "ownerReferences": [owner.reference()],
        },
        "stringData": data,
    }


def build_database_secret(
    names: ClubNames,
    owner: Owner,
    *,
    host: str,
    port: int,
    password: str,
    dsn: str,
    username: str | None = None,
) -> dict[str, Any]:
    """`username`: the login `password` is for (db_logins.py), the Club's role when not given."""
    return _secret(
        names,
        owner,
        names.database_secret,
        {
            "host": host,
            "port": str(port),
            "dbname": names.database,
            "username": username or names.role,
            DB_PASSWORD: password,
            "dsn": dsn,
        },
    )


def build_storage_secret(
    names: ClubNames,
    owner: Owner,
    *,
    endpoint: str,
    region: str,
    secret_key: str,
    access_key: str | None = None,
) -> dict[str, Any]:
    """`access_key`: the one of the Club's two S3 users in use (s3_keys.py); its own by default."""
    return _secret(
        names,
        owner,
        names.storage_secret,
        {
            "endpoint": endpoint,
            "region": region,
            "bucket": names.bucket,
            "accessKeyId": access_key or names.s3_user,
            STORAGE_SECRET_KEY: secret_key,
        },
    )


def build_backup_secret(
    names: ClubNames, owner: Owner, *, endpoint: str, region: str, bucket: str, prefix: str, secret_key: str
) -> dict[str, Any]:
    """Where the club's backups go and the credentials that may only add to them (backup_storage.py):
    the backup Job's BACKUP_S3_* settings."""
    return _secret(
        names,
        owner,
        names.backup_secret,
        {
            "endpoint": endpoint,
            "region": region,
            "bucket": bucket,
            "prefix": prefix,
            "accessKey": names.backup_s3_user,
            BACKUP_SECRET_KEY: secret_key,
        },
    )


def build_jwt_secret(names: ClubNames, owner: Owner, *, keys_json: str) -> dict[str, Any]:
    return _secret(names, owner, names.jwt_secret, {JWT_KEYS: keys_json})


def build_owner_secret(names: ClubNames, owner: Owner, *, password: str) -> dict[str, Any]:
    email = f"owner@{names.name}.{names.namespace}.footballclub.io"
    return _secret(names, owner, names.owner_secret, {"email": email, OWNER_PASSWORD: password})


OWNER_PREVIOUS_PASSWORD = "previous-password"  # noqa: S105 - the key's name, not a password


def owner_password_id(password: str) -> str:
    """The id the owner's password goes by in status and Events (as redis_password_id)."""
    return hashlib.sha256(b"club-owner-password-id\0" + password.encode()).hexdigest()[:12]


def redis_password_id(password: str) -> str:
    """The id a Redis password goes by in status and Events (rotation.py): 12 hex digits of a keyed
    digest, so it names the password without revealing it or its ACL hash."""
    return hashlib.sha256(b"club-redis-password-id\0" + password.encode()).hexdigest()[:12]


def build_redis_secret(
    names: ClubNames, owner: Owner, *, url: str, address: str, username: str, password: str
) -> dict[str, Any]:
    """The Club's own Redis user: REDIS_URL for the runtime, and address/username/password for KEDA's
    redis scaler (it takes no URL)."""
    data = {"url": url, "address": address, REDIS_USERNAME: username, REDIS_PASSWORD: password}
    return _secret(names, owner, names.redis_secret, data)
