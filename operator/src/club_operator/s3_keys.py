"""A Club's two S3 users, between which its access key alternates (s3_rotation.py). Pure: no I/O.

The Club's S3 user (naming: `s3_user`) and its alternate, `<s3_user>--alternate`, hold the same
policy (the Club's, granting its bucket only). The storage Secret names the one in use
(`accessKeyId`); a rotation gives the other one a new secret key and makes it the Secret's, then
removes the first once every pod uses the new one. Both names are the Club's alone: a plain S3 user
name never holds "--", a digested one ends in hex digits after its "--", and the backup writer's
ends in "--backup" (naming.ClubNames.backup_s3_user).

A key's id in status and Events is a digest of its user and secret key (the same user comes back
with a new secret key at every other rotation), never either of them."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from club_operator import credentials, rotation

ALTERNATE_SUFFIX = "--alternate"
ACCESS_KEY_ID = "accessKeyId"


def alternate_user(user: str) -> str:
    """The Club's second S3 user, for the Club whose S3 user is `user`."""
    return f"{user}{ALTERNATE_SUFFIX}"


def club_users(user: str) -> tuple[str, str]:
    """Both of the Club's S3 users: its own and the alternate."""
    return user, alternate_user(user)


def other_user(user: str, current: str) -> str:
    """The Club's S3 user that `current` (one of the two) is not."""
    first, second = club_users(user)
    return second if current == first else first


def in_use(user: str, secret: Mapping[str, str]) -> tuple[str, str | None]:
    """(access key, secret key) the storage Secret holds: its access key when that is one of the
    Club's two users, else the Club's own user (a Secret from before rotation, or one edited by hand:
    the user a person wrote there is not the Club's to manage); the secret key is None when absent."""
    found = secret.get(ACCESS_KEY_ID)
    access_key = found if found in club_users(user) else user
    return access_key, secret.get(credentials.STORAGE_SECRET_KEY) or None


def key_id(access_key: str, secret_key: str) -> str:
    """The id of an S3 key in status and Events: 12 hex digits of a keyed digest of both halves."""
    digest = hashlib.sha256(b"club-s3-key-id\0" + access_key.encode() + b"\0" + secret_key.encode())
    return digest.hexdigest()[:12]


def held_ids(record: rotation.Record | None, active_kid: str, other_exists: bool) -> frozenset[str]:
    """The ids of the keys the S3 server holds, as the phase model counts them. The server gives no
    secret back: the Secret's key is `active_kid`; the other user, when it exists, holds the
    record's other key (the newer one when the Secret names another: a rotation written and not
    recorded; else the previous one)."""
    if not other_exists or record is None:
        return frozenset({active_kid})
    other = record.kid if record.kid != active_kid else record.previous_kid
    return frozenset({active_kid} | ({other} if other else set()))


def drifted(record: rotation.Record, active_kid: str, other_exists: bool, propagated: bool) -> bool:
    """The rotation is settled on the Secret's key, every pod uses it, and the other user still
    exists: made by hand or left by an earlier operator, to be removed."""
    return record.settled and record.kid == active_kid and other_exists and propagated
