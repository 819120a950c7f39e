"""A Club's Redis user: created, repaired and deleted through the operator's own (admin) connection.

The user (named by the Club's key prefix, see redis_target.club_prefix) may touch only the Club's
keys and channels and run only RQ's commands. Redis cannot attach metadata to an ACL user, so the
owner is recorded in a hash of the operator's, `club-operator:owners` (user -> JSON namespace, name,
uid), written before the user is: no Club's user can read or write it (it lies outside every
`club:<...>:*` pattern), so a Club cannot claim or disown a user. The rule:
- no record and no user: free, made for this Club;
- a record of this Club's uid: its own, repaired where it drifted (steady state writes nothing);
- a record of this namespace/name but another uid: an earlier Club of this name, deleted while its
  cleanup could not finish (names are unique in a namespace, so that Club is gone). Its keys are
  job state of a Club that no longer exists: they are removed, then the user is this Club's;
- a user without a record, or a record of another namespace/name: Conflict, left untouched.
Deletion removes the user (Redis then closes its connections), every key under the prefix and the
record; only when the record is this Club's.

A user may hold more than one password while its password is rotated (rotation.py): ensure_user adds
the Secret's password and keeps the others the user holds (a repair re-adds them), and only the
rotation removes one (`keep_only`), once every pod logs in with the new one.

The operator reads job status as `club-operator-reader` (redis_target.reader_rules): read-only, job
hashes and results only. Its password is derived from the operator's own Redis URL, so every
replica of the operator derives the same one and nothing needs storing."""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any, cast

import redis

from club_operator import redis_target

OWNERS_KEY = "club-operator:owners"
_SCAN_BATCH = 500
_HASH = re.compile(r"[0-9a-fA-F]{64}")


class RedisUnavailable(RuntimeError):
    """Redis could not be reached or refused the operator's command."""


class RedisConflict(RuntimeError):
    """The user belongs to another Club, or to none; the message names it, never a secret."""


@dataclass(frozen=True)
class ClubUser:
    namespace: str
    name: str
    uid: str
    password: str
    database: int

    @property
    def prefix(self) -> str:
        return redis_target.club_prefix(self.namespace, self.name)

    def rules(self) -> tuple[str, ...]:
        return redis_target.acl_rules(
            self.prefix, redis_target.password_sha256(self.password), database=self.database
        )


@functools.cache
def _admin(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=10, socket_connect_timeout=5, health_check_interval=30)


def _acl(conn: redis.Redis, *args: str) -> Any:
    """An ACL subcommand, its reply unparsed (redis-py's typed helpers take other arguments)."""
    return cast(Any, conn).execute_command("ACL", *args)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _record(conn: redis.Redis, user: str) -> dict[str, str] | None:
    raw = conn.hget(OWNERS_KEY, user)
    if raw is None:
        return None
    try:
        found = json.loads(_text(raw))
    except ValueError:
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def _view(conn: redis.Redis, user: str) -> dict[str, Any] | None:
    """ACL GETUSER as text (Redis 6.2 gives lists where 7 gives strings); None when no such user."""
    found = _acl(conn, "GETUSER", user)
    if found is None:
        return None
    pairs = found.items() if isinstance(found, dict) else zip(found[::2], found[1::2], strict=True)
    view: dict[str, Any] = {}
    for key, value in pairs:
        if isinstance(value, list):
            view[_text(key)] = sorted(_text(v) for v in value)
        else:
            view[_text(key)] = _text(value)
    return view


def _rules_digest(user: ClubUser) -> str:
    """What was asked of Redis, without the password (compared through its hash, not kept here)."""
    rules = [r for r in user.rules() if not r.startswith("#")]
    return hashlib.sha256(" ".join(rules).encode()).hexdigest()


def _in_place(view: dict[str, Any] | None, record: dict[str, str], user: ClubUser) -> bool:
    """Whether the user is as this Club's rules make it. Redis rewrites the command rules it is given
    (e.g. +multi +exec ... as +@transaction), so its rendering right after our SETUSER is recorded
    and compared, along with the password hash, the key and channel patterns and `on`."""
    if view is None:
        return False
    patterns = (view.get("keys"), view.get("channels"))
    return (
        record.get("rules") == _rules_digest(user)
        and record.get("commands") == view.get("commands")
        and redis_target.password_sha256(user.password) in (view.get("passwords") or [])
        and "on" in (view.get("flags") or [])
        and patterns
        in ((f"~{user.prefix}:*", f"&{user.prefix}:*"), ([f"~{user.prefix}:*"], [f"&{user.prefix}:*"]))
    )


@functools.cache
def reader_url(admin_url: str) -> str:
    """A URL logging in as the operator's read-only user, made (or repaired) on first use."""
    password = hmac.new(admin_url.encode(), redis_target.OPERATOR_READER.encode(), hashlib.sha256).hexdigest()
    database = redis_target.parse_redis_url(admin_url).database
    rules = redis_target.reader_rules(redis_target.password_sha256(password), database=database)
    try:
        _acl(_admin(admin_url), "SETUSER", redis_target.OPERATOR_READER, *rules)
    except redis.RedisError as exc:
        raise RedisUnavailable(
            f"setting up Redis user {redis_target.OPERATOR_READER} failed: {_safe(exc)}"
        ) from exc
    return redis_target.with_user(admin_url, redis_target.OPERATOR_READER, password)


def ensure_user(admin_url: str, user: ClubUser) -> bool:
    """Create or repair the Club's user; True when something was written. RedisConflict when the
    user is not this Club's."""
    conn = _admin(admin_url)
    name = user.prefix
    try:
        record = _record(conn, name)
        view = _view(conn, name)
        if record is None and view is not None:
            raise RedisConflict(
                f"Redis user {name} already exists and records no owning Club: the operator leaves it "
                "untouched (delete it, or record its owner)"
            )
        if record is not None and (record.get("namespace"), record.get("name")) != (
            user.namespace,
            user.name,
        ):
            raise RedisConflict(
                f"Redis user {name} belongs to another Club: the operator leaves it untouched"
            )
        if record is not None and record.get("uid") == user.uid and _in_place(view, record, user):
            return False
        if record is not None and record.get("uid") != user.uid:
            _remove(admin_url, name)  # an earlier Club of this name, gone (see the module's docstring)
        owner = {
            "namespace": user.namespace,
            "name": user.name,
            "uid": user.uid,
            "rules": _rules_digest(user),
        }
        conn.hset(OWNERS_KEY, name, json.dumps(owner, sort_keys=True))
        # `reset` drops every password: the ones a rotation still needs are put back with the rules.
        kept = sorted(
            set((view or {}).get("passwords") or []) - {redis_target.password_sha256(user.password)}
        )
        if record is None or record.get("uid") != user.uid:
            kept = []  # an earlier Club's passwords are not this one's
        _acl(conn, "SETUSER", name, *user.rules(), *(f"#{h}" for h in kept))
        applied = _view(conn, name) or {}
        owner["commands"] = str(applied.get("commands", ""))
        conn.hset(OWNERS_KEY, name, json.dumps(owner, sort_keys=True))
    except redis.RedisError as exc:
        raise RedisUnavailable(f"setting up Redis user {name} failed: {_safe(exc)}") from exc
    return True


def passwords(admin_url: str, user: str) -> frozenset[str]:
    """The SHA-256 hashes of the passwords the user accepts (none when there is no such user)."""
    try:
        view = _view(_admin(admin_url), user)
    except redis.RedisError as exc:
        raise RedisUnavailable(f"reading Redis user {user} failed: {_safe(exc)}") from exc
    return frozenset((view or {}).get("passwords") or [])


def add_password(admin_url: str, user: str, password: str) -> None:
    """Add a password to the user, keeping the ones it holds (by its hash, as ensure_user does)."""
    try:
        _acl(_admin(admin_url), "SETUSER", user, f"#{redis_target.password_sha256(password)}")
    except redis.RedisError as exc:
        raise RedisUnavailable(f"adding a password to Redis user {user} failed: {_safe(exc)}") from exc


def keep_only(admin_url: str, user: str, password: str) -> None:
    """Remove every password of the user but `password` (one command: never a moment with none)."""
    rules = ("resetpass", f"#{redis_target.password_sha256(password)}")
    try:
        _acl(_admin(admin_url), "SETUSER", user, *rules)
    except redis.RedisError as exc:
        raise RedisUnavailable(f"removing a password of Redis user {user} failed: {_safe(exc)}") from exc


def close_connections(admin_url: str, user: str) -> int:
    """Close every connection the user has open (Redis keeps authenticated connections when a
    password is removed); the number closed."""
    try:
        return int(cast(Any, _admin(admin_url)).execute_command("CLIENT", "KILL", "USER", user))
    except redis.RedisError as exc:
        raise RedisUnavailable(f"closing Redis user {user}'s connections failed: {_safe(exc)}") from exc


def delete_user(admin_url: str, namespace: str, name: str, uid: str) -> bool:
    """Remove the Club's user, its keys and its record, when the record is this Club's; True when
    it was. Another Club's user, or one without a record, is left alone."""
    conn = _admin(admin_url)
    user = redis_target.club_prefix(namespace, name)
    try:
        record = _record(conn, user)
        if record is None or record.get("uid") != uid:
            return False
        _remove(admin_url, user)
        conn.hdel(OWNERS_KEY, user)
    except redis.RedisError as exc:
        raise RedisUnavailable(f"deleting Redis user {user} failed: {_safe(exc)}") from exc
    return True


def _remove(admin_url: str, user: str) -> None:
    """The user first (its connections close, so nothing writes while the keys go), then its keys:
    in the operator's database, and in every other one when the Club's user could SELECT them (its
    rules allow SELECT when the operator's database is not 0; Redis cannot limit SELECT to one)."""
    conn = _admin(admin_url)
    _acl(conn, "DELUSER", user)
    if not redis_target.parse_redis_url(admin_url).database:
        _unlink_prefix(conn, user)
        return
    for db in range(int(cast(Any, conn.config_get("databases")).get("databases", 16))):
        with redis.Redis.from_url(redis_target.with_database(admin_url, db)) as each:
            _unlink_prefix(each, user)


def _unlink_prefix(conn: redis.Redis, user: str) -> None:
    batch: list[Any] = []
    for key in conn.scan_iter(match=f"{user}:*", count=_SCAN_BATCH):
        batch.append(key)
        if len(batch) >= _SCAN_BATCH:
            conn.unlink(*batch)
            batch.clear()
    if batch:
        conn.unlink(*batch)


def _safe(exc: redis.RedisError) -> str:
    """The error, with any password hash it quotes (an ACL SETUSER rule) left out."""
    return _HASH.sub("<hash>", str(exc))
