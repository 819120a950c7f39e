"""The breach response (revoke_plan.py): `footballclub.io/revoke=<reason>` replaces every credential
of the Club at once, with no overlap, and reports the time from the request until nothing accepts
an old one.

`ensure_revocation` runs before the workloads, so the pods this reconcile applies carry the new
Secrets (their config hashes cover them: the API and both worker pools roll). Each credential is
replaced by one function, and the server that holds it refuses the old one as it returns:

    jwtSigningKey   the key set becomes a single new key: tokens signed before (access and refresh)
                    verify on no pod started from now on;
    redisPassword   the Club's ACL user holds only a new password, and its open connections are closed;
    databasePassword  the login not in use gets a new password and the Secret names it; every other
                    login of the Club is refused (NOLOGIN) and every session the Club had is ended;
    s3AccessKey     the other S3 user gets a new key and the Secret names it; the user in use is
                    deleted;
    ownerPassword   the bootstrap owner's account takes a new password (where it still holds the
                    bootstrap one: a password the owner chose is the owner's).

The credentials replaced so far are recorded (status.revocation.replaced) even when a server is
unreachable, so a retry replaces only the rest. `ensure_revocation_done` runs after the workloads:
once every API and worker pod runs the new template and is Ready, the record turns Revoked with the
seconds from the request (Event, status.revocation.seconds and
club_secret_revocation_seconds)."""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

from club_operator import (
    club_servers,
    credentials,
    database,
    db_rotation,
    kube,
    metrics,
    owner_rotation,
    ownership,
    redis_acl,
    redis_rotation,
    revoke_plan,
    rotation,
    s3_rotation,
    secret_writes,
    status_writer,
    storage,
)
from club_operator.club import Context
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome
from club_operator.redis_target import club_prefix, parse_redis_url, with_user

_UNAVAILABLE = (
    redis_acl.RedisUnavailable,
    club_servers.ServerNotConfigured,
    database.InvalidServer,
    database.DatabaseUnavailable,
    database.DatabaseFailed,
    storage.StorageUnavailable,
    storage.StorageConflict,
    ownership.Conflict,
)


def _replace_jwt(ctx: Context, out: Outcome) -> str:
    names = ctx.names
    keys = credentials.generate_jwt_keys()
    existing = kube.read_secret(names.namespace, names.jwt_secret)
    secret_writes.write(
        credentials.build_jwt_secret(names, ctx.club.owner, keys_json=keys), out, frozenset(), existing
    )
    out.fields["jwtKeyId"] = credentials.active_key_id(keys)
    return f"JWT signing key {credentials.active_key_id(keys)} alone in the key set"


def _replace_redis(ctx: Context, out: Outcome) -> str:
    names = ctx.names
    redis = parse_redis_url(ctx.settings.redis_url.get_secret_value())
    user = club_prefix(names.namespace, names.name)
    if not redis_acl.passwords(redis.url, user):
        return "no Redis user yet"
    password = credentials.generate_password()
    existing = kube.read_secret(names.namespace, names.redis_secret)
    secret = credentials.build_redis_secret(
        names,
        ctx.club.owner,
        url=with_user(redis.url, user, password),
        address=redis.address,
        username=user,
        password=password,
    )
    secret_writes.write(secret, out, frozenset(), existing)
    redis_acl.keep_only(redis.url, user, password)
    closed = redis_acl.close_connections(redis.url, user)
    return f"Redis password {credentials.redis_password_id(password)} alone ({closed} connections closed)"


def _replace_owner(ctx: Context, out: Outcome) -> str:
    return owner_rotation.replace_now(ctx, out)


_REPLACE: tuple[tuple[str, Callable[[Context, Outcome], str]], ...] = (
    (rotation.JWT_SIGNING_KEY, _replace_jwt),
    (rotation.REDIS_PASSWORD, _replace_redis),
    (rotation.DATABASE_PASSWORD, db_rotation.replace_now),
    (rotation.S3_ACCESS_KEY, s3_rotation.replace_now),
    (rotation.OWNER_PASSWORD, _replace_owner),
)


def _record(ctx: Context) -> revoke_plan.Record | None:
    _, known = status_writer.current_status(ctx.club.uid, None)
    return revoke_plan.newest(
        revoke_plan.from_status(ctx.club.revocation),
        revoke_plan.from_status(known.get("revocation")),
    )


def ensure_revocation(ctx: Context, out: Outcome) -> None:
    """Replace every credential when a new footballclub.io/revoke value asks (module docstring)."""
    club = ctx.club
    record = _record(ctx)
    step = revoke_plan.step(club.revoke_request, record, EVERY, propagated=False)
    if step is not revoke_plan.Step.REPLACE or not club.revoke_request:
        return
    now = datetime.datetime.now(datetime.UTC)
    ongoing = record if record is not None and record.request == club.revoke_request else None
    if ongoing is None:
        ongoing = revoke_plan.Record(
            club.revoke_request, revoke_plan.Phase.REVOKING, min(club.revoke_requested or now, now), now
        )
    done = list(ongoing.credentials)
    said: list[str] = []
    problem: str | None = None
    for name, replace in _REPLACE:
        if name in done:
            continue
        try:
            said.append(replace(ctx, out))
        except _UNAVAILABLE as exc:
            problem = f"revoking {name}: {exc}"
            break
        done.append(name)
    record = dataclasses.replace(ongoing, replaced=now, credentials=tuple(done))
    out.fields["revocation"] = record.to_status()
    if said:
        out.changed(
            "revocation",
            f"revoked credentials ({club.revoke_request}): {'; '.join(said)}; pods rolling onto the new ones",
        )
    if problem is not None:
        out.failed(Type.SECRETS_ROTATED, Reason.SERVER_UNAVAILABLE, problem)


def ensure_revocation_done(ctx: Context, out: Outcome) -> None:
    """After the workloads: the revocation is complete once every pod runs the new Secrets."""
    written = out.fields.get("revocation")
    record = revoke_plan.from_status(written) if written is not None else _record(ctx)
    if record is None:
        return
    propagated = redis_rotation.pods_propagated(ctx, out)
    if (
        revoke_plan.step(ctx.club.revoke_request, record, EVERY, propagated=propagated)
        is not revoke_plan.Step.DONE
    ):
        return
    done = record.complete(datetime.datetime.now(datetime.UTC))
    out.fields["revocation"] = done.to_status()
    seconds = done.seconds or 0.0
    metrics.REVOCATION_SECONDS.labels(ctx.names.namespace, ctx.names.name).set(seconds)
    out.changed(
        "revocation",
        f"every old credential refused {seconds:.0f} s after the revoke request ({done.request}): "
        "every pod runs the new ones; users sign in again",
    )


EVERY = tuple(name for name, _ in _REPLACE)
