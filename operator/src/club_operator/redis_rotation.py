"""The Redis password's rotation: one step per reconcile of rotation.py's phases, after the
workloads (which set up the Club's Redis user and Secret, workloads.ensure_redis_user).

    Issued      a new password is written to the Club's Redis Secret (url and password), then added
                to the Club's ACL user, which keeps the previous one: Redis holds several passwords
                on one user, so old and new both log in. The Secret is written first, so a crash
                between the two leaves a password that the next reconcile's ensure_redis_user adds
                (keeping the previous one), and this step takes it up (`adopted`) rather than issuing
                a second one.
    Propagated  every pod that reads the Secret runs the template carrying it and is Ready: the API
                and both worker pools (their config hashes cover the Redis Secret, so the new
                password rolls all three Deployments).
    Revoked     after `overlap`, every password but the Secret's is removed from the user (one
                ACL SETUSER ... resetpass #<hash>): Redis refuses the previous one.

The record's id for a password is credentials.redis_password_id (never the password, nor its ACL
hash). Scheduled on spec.secrets.rotation.databasePasswordInterval (the service passwords' interval;
the CRD has no Redis field of its own), on request by footballclub.io/rotate. A password the user
holds that no rotation accounts for (added by hand) is removed once the rotation is settled.

KEDA's redis scaler reads the same Secret through the Club's TriggerAuthentication (secretTargetRef),
not through a pod: KEDA resolves it when it builds the scaler, so it keeps its connection until the
old password is revoked; Redis does not close connections that are already authenticated when a
password is removed."""

from __future__ import annotations

import dataclasses
import datetime

from club_operator import (
    credentials,
    kube,
    redis_acl,
    rollouts,
    rotation,
    rotation_condition,
    rotation_steps,
)
from club_operator.builders.inputs import POOLS
from club_operator.club import Context
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome
from club_operator.redis_target import club_prefix, parse_redis_url, password_sha256, with_user
from club_operator.workloads import DEPLOYMENT

PHRASES = rotation_condition.Phrases(
    issued="Redis password {kid} issued at {issued}, rolling out to the pods",
    propagated="every pod logs in to Redis with password {kid} since {propagated}",
    revoke_after="password {previous} is removed after {at}",
    revoked="Redis password {kid} in use; password {previous} revoked at {revoked}",
    name="Redis password",
)


def held_ids(
    record: rotation.Record | None, active_kid: str, current_hash: str, held: frozenset[str]
) -> frozenset[str]:
    """The ids of the passwords the user holds, as the phase model counts them. Redis gives only
    hashes: the Secret's password is `active_kid`; any other one is the record's (the newer one when
    the Secret names another: a rotation written and not recorded; else the previous one)."""
    if not held - {current_hash} or record is None:
        return frozenset({active_kid})
    other = record.kid if record.kid != active_kid else record.previous_kid
    return frozenset({active_kid} | ({other} if other else set()))


def drifted(record: rotation.Record, active_kid: str, current_hash: str, held: frozenset[str]) -> bool:
    """The rotation is settled on the Secret's password and the user still holds another: one no
    rotation accounts for, to be removed."""
    return record.settled and record.kid == active_kid and bool(held - {current_hash})


def ensure_redis_rotation(ctx: Context, out: Outcome) -> None:
    """One step of the Club's Redis password rotation (module docstring). Reports
    status.rotation.redisPassword, its Events, the SecretsRotated condition (merged with the JWT
    key's) and club_secret_last_rotation_timestamp_seconds{credential="redisPassword"}."""
    club, names = ctx.club, ctx.names
    data = out.secrets.get(names.redis_secret) or {}
    password = data.get(credentials.REDIS_PASSWORD)
    if not password:
        return  # the workloads step could not set up the Club's Redis user
    redis = parse_redis_url(ctx.settings.redis_url.get_secret_value())
    user = club_prefix(names.namespace, names.name)
    at = rotation_steps.standing(ctx, rotation.REDIS_PASSWORD)
    record, request = at.record, at.request
    try:
        held = redis_acl.passwords(redis.url, user)
    except redis_acl.RedisUnavailable as exc:
        out.failed(Type.SECRETS_ROTATED, Reason.SERVER_UNAVAILABLE, str(exc))
        return
    active = credentials.redis_password_id(password)
    current_hash = password_sha256(password)
    new_password = credentials.generate_password()
    pol = rotation_condition.service_policy(ctx)
    now = datetime.datetime.now(datetime.UTC)
    propagated = pods_propagated(ctx, out)

    def step(at: rotation.Record | None, kids: frozenset[str], request: str | None) -> rotation.Plan:
        return rotation.advance(
            at,
            active_kid=active,
            kids=kids,
            propagated=propagated,
            now=now,
            policy=pol,
            request=request,
            new_kid=credentials.redis_password_id(new_password),
            wording=rotation.REDIS_WORDING,
        )

    planned = step(record, held_ids(record, active, current_hash, held), request)
    events = list(planned.events)
    try:
        if planned.action is rotation.Action.ISSUE:
            existing = kube.read_secret(names.namespace, names.redis_secret)
            secret = credentials.build_redis_secret(
                names,
                club.owner,
                url=with_user(redis.url, user, new_password),
                address=redis.address,
                username=user,
                password=new_password,
            )
            out.secrets[names.redis_secret], written = kube.write_secret(secret, existing, keep=frozenset())
            if written:
                out.changed("secret", f"wrote Secret {names.redis_secret}")
            redis_acl.add_password(redis.url, user, new_password)
        elif planned.action is rotation.Action.REVOKE or drifted(planned.record, active, current_hash, held):
            redis_acl.keep_only(redis.url, user, password)
            if planned.action is rotation.Action.REVOKE:
                # Nothing to roll out: the user refuses the previous password now. Recorded at once.
                again = step(planned.record, frozenset({active}), None)
                planned = dataclasses.replace(planned, record=again.record)
                events.extend(again.events)
            else:
                events.append("removed a password of the club's Redis user that no rotation issued")
    except redis_acl.RedisUnavailable as exc:
        out.failed(Type.SECRETS_ROTATED, Reason.SERVER_UNAVAILABLE, str(exc))
        return
    rotation_steps.report_service(
        ctx, out, rotation.REDIS_PASSWORD, at, planned, events=events, phrases=PHRASES
    )


def pods_propagated(ctx: Context, out: Outcome) -> bool:
    """Every pod that reads the Redis Secret (API and workers) runs the template this reconcile
    applied and is Ready: each Deployment observed its generation, every pod is updated, none of
    an older template is left, all are available."""
    applied = [c for c in out.conditions if c.type == Type.WORKLOADS_READY]
    if not applied or applied[-1].reason not in (Reason.AVAILABLE, Reason.ROLLING_OUT):
        return False
    for name in (ctx.names.api, *(ctx.names.worker(p) for p in POOLS)):
        live = kube.read_object(*DEPLOYMENT, ctx.names.namespace, name)
        if live is None or rollouts.waiting_for(live) is not None:
            return False
        status = live.get("status") or {}
        if int(status.get("replicas") or 0) != int(status.get("updatedReplicas") or 0):
            return False
    return True
