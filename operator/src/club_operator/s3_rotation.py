"""The S3 access key's rotation: one step per reconcile of rotation.py's phases, after the workloads
(the storage step before them keeps the key the Secret names in place).

The key alternates between the Club's two S3 users (s3_keys.py), both holding the Club's policy:

    Issued      a new secret key is written to the Club's storage Secret together with the name of
                the user not in use, then that user is created with it (or given it) and the Club's
                policy. The previous user keeps its key, so old and new both work. The Secret is
                written first, so a crash between the two leaves a Secret whose user the next
                reconcile's storage step creates, and this step takes it up (`adopted`) rather than
                issuing a second key.
    Propagated  every pod that reads the storage Secret runs the template carrying it and is Ready:
                the API and both worker pools (their config hashes cover the storage Secret, so a
                new key rolls all three Deployments). Nothing else reads it: the backup Jobs have a
                writer of their own.
    Revoked     after `overlap`, the previous user is deleted: the server refuses its key
                (InvalidAccessKeyId).

Why two users rather than MinIO's service accounts (several access keys under one user, inheriting
its policy): a service account's access key is at most 20 characters and its secret at most 40, so
neither the Club's derived names nor the secrets the operator makes fit, and the owning Club would
be recorded only in free text on the account; and MinIO answers every read of service accounts
(list, info) encrypted with a key derived by Argon2id (about 0.1 s of CPU and 64 MiB on the
operator's side per read), where a user is read in plain JSON and written with the cheap sealing of
minio_payload.py. Two users give exactly what the phase model needs (two keys at once at most) with
the calls storage.py already makes. Each is the Club's by its name (derived from the Club alone)
and by the one policy it holds (the Club's, granting the bucket whose tags name the Club); a user of
that name holding any other policy is not touched (Conflict).

The record's id for a key is s3_keys.key_id (a digest of user and secret key, neither of which
appears in status, Events or logs). Scheduled on spec.secrets.rotation.databasePasswordInterval (the
service credentials' interval; the CRD has no S3 field of its own), on request by
footballclub.io/rotate; suspend stops it with the rest of the reconcile. The other user found
existing once the rotation is settled and every pod uses the Secret's key (made by hand, or left by
a crash before a revoke was recorded) is deleted. Deleting the Club with deletionPolicy Delete
deletes both users (storage.delete_storage); Retain keeps them, as it keeps the bucket, and a Club
that adopts them later deletes the one its new Secret does not name once its pods use that Secret.

The Club's backup writer (backup_storage.py) is not rotated here: it is read only by the backup
Jobs, which start from the Secret and run to the end, so its rotation would wait on no rollout but
on the Jobs started before the new key."""

from __future__ import annotations

import dataclasses
import datetime
from dataclasses import dataclass

from club_operator import (
    club_servers,
    credentials,
    kube,
    ownership,
    redis_rotation,
    rotation,
    rotation_condition,
    rotation_steps,
    s3_keys,
    storage,
)
from club_operator.club import Context
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome

PHRASES = rotation_condition.Phrases(
    issued="S3 access key {kid} issued at {issued}, rolling out to the pods",
    propagated="every pod uses S3 access key {kid} since {propagated}",
    revoke_after="key {previous} is deleted after {at}",
    revoked="S3 access key {kid} in use; key {previous} revoked at {revoked}",
    name="S3 access key",
)


@dataclass(frozen=True)
class _Keys:
    """The key the storage Secret holds and the Club's other S3 user, as read."""

    server: storage.S3Server
    access_key: str
    secret_key: str
    other: str
    other_exists: bool

    def __repr__(self) -> str:
        return f"_Keys(access_key={self.access_key!r}, other={self.other!r})"


def ensure_s3_rotation(ctx: Context, out: Outcome) -> None:
    """One step of the Club's S3 access key rotation (module docstring). Reports
    status.rotation.s3AccessKey, its Events, the SecretsRotated condition (merged with the other
    credentials') and club_secret_last_rotation_timestamp_seconds{credential="s3AccessKey"}."""
    names = ctx.names
    keys = _read_keys(ctx, out)
    if keys is None:
        return
    at = rotation_steps.standing(ctx, rotation.S3_ACCESS_KEY)
    record, request = at.record, at.request
    active = s3_keys.key_id(keys.access_key, keys.secret_key)
    new_secret = credentials.generate_password()
    pol = rotation_condition.service_policy(ctx)
    now = datetime.datetime.now(datetime.UTC)
    # The API and both worker pools read the storage Secret as they read the Redis one.
    propagated = redis_rotation.pods_propagated(ctx, out)

    def step(at: rotation.Record | None, kids: frozenset[str], request: str | None) -> rotation.Plan:
        return rotation.advance(
            at,
            active_kid=active,
            kids=kids,
            propagated=propagated,
            now=now,
            policy=pol,
            request=request,
            new_kid=s3_keys.key_id(keys.other, new_secret),
            wording=rotation.S3_WORDING,
        )

    planned = step(record, s3_keys.held_ids(record, active, keys.other_exists), request)
    events = list(planned.events)
    try:
        if planned.action is rotation.Action.ISSUE:
            _issue(ctx, out, keys, new_secret)
        elif planned.action is rotation.Action.REVOKE or s3_keys.drifted(
            planned.record, active, keys.other_exists, propagated
        ):
            storage.remove_key_user(keys.server, keys.other, names.s3_policy)
            if planned.action is rotation.Action.REVOKE:
                # Nothing to roll out: the server refuses the previous key now. Recorded at once.
                again = step(planned.record, frozenset({active}), None)
                planned = dataclasses.replace(planned, record=again.record)
                events.extend(again.events)
            else:
                events.append("deleted the club's other S3 user, whose key no rotation issued")
    except ownership.Conflict as exc:
        out.condition(Type.SECRETS_ROTATED, False, Reason.CONFLICT, str(exc))
        return
    except (storage.StorageUnavailable, storage.StorageConflict) as exc:
        out.failed(Type.SECRETS_ROTATED, Reason.SERVER_UNAVAILABLE, str(exc))
        return
    rotation_steps.report_service(
        ctx, out, rotation.S3_ACCESS_KEY, at, planned, events=events, phrases=PHRASES
    )


def _read_keys(ctx: Context, out: Outcome) -> _Keys | None:
    """The Secret's key and whether the other user exists; None (reported) when they cannot be had."""
    names = ctx.names
    ready = [c for c in out.conditions if c.type == Type.STORAGE_READY]
    if not ready or not ready[-1].status:
        return None  # the storage step reports why
    access_key, secret_key = s3_keys.in_use(names.s3_user, out.secrets.get(names.storage_secret) or {})
    if not secret_key:
        return None
    other = s3_keys.other_user(names.s3_user, access_key)
    try:
        server = club_servers.storage_server(ctx.spec, names.namespace, ctx.settings)
        exists = storage.key_user_exists(server, other, names.s3_policy)
    except ownership.Conflict as exc:
        out.condition(Type.SECRETS_ROTATED, False, Reason.CONFLICT, str(exc))
        return None
    except (club_servers.ServerNotConfigured, storage.StorageUnavailable, storage.StorageConflict) as exc:
        out.failed(Type.SECRETS_ROTATED, Reason.SERVER_UNAVAILABLE, str(exc))
        return None
    return _Keys(server, access_key, secret_key, other, exists)


def _issue(ctx: Context, out: Outcome, keys: _Keys, new_secret: str) -> None:
    """The new key: in the Secret first (with the other user's name), then on the server."""
    names = ctx.names
    data = out.secrets.get(names.storage_secret) or {}
    existing = kube.read_secret(names.namespace, names.storage_secret)
    secret = credentials.build_storage_secret(
        names,
        ctx.club.owner,
        endpoint=data.get("endpoint") or keys.server.endpoint,
        region=data.get("region") or keys.server.region,
        secret_key=new_secret,
        access_key=keys.other,
    )
    out.secrets[names.storage_secret], written = kube.write_secret(secret, existing, keep=frozenset())
    if written:
        out.changed("secret", f"wrote Secret {names.storage_secret}")
    storage.add_key_user(keys.server, keys.other, new_secret, names.s3_policy)


def replace_now(ctx: Context, out: Outcome) -> str:
    """The breach response's step (revoke.py): the Club's other S3 user gets a new secret key and the
    storage Secret names it, then the user in use is deleted (the server refuses its key at once).
    What was done, in words (ids only)."""
    keys = _read_keys(ctx, out)
    if keys is None:
        raise storage.StorageUnavailable("the club's bucket and S3 user are not ready yet")
    new_secret = credentials.generate_password()
    _issue(ctx, out, keys, new_secret)
    storage.remove_key_user(keys.server, keys.access_key, ctx.names.s3_policy)
    return f"S3 access key {s3_keys.key_id(keys.other, new_secret)} alone (the previous user deleted)"
