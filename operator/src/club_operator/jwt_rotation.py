"""The JWT signing keys' rotation: the reconcile step that drives rotation.py's phases for the key
set in the Club's JWT Secret (see `ensure_jwt_rotation`)."""

from __future__ import annotations

import datetime

from club_operator import credentials, kube, rollouts, rotation, rotation_steps, secret_writes
from club_operator.club import Context
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome


def _policy(ctx: Context) -> rotation.Policy:
    spec = ctx.spec.secrets.rotation
    return rotation.Policy(
        interval=spec.jwt_signing_key_period,
        overlap=spec.overlap_period,
        lifetime=datetime.timedelta(seconds=ctx.settings.jwt_token_lifetime_sec),
    )


def ensure_jwt_rotation(ctx: Context, out: Outcome) -> None:
    """After the workloads: one step of the JWT signing key's rotation (rotation.py), on schedule
    (spec.secrets.rotation.jwtSigningKeyInterval) or asked for by the footballclub.io/rotate
    annotation (each value once: status.lastRotateRequest). A new key is added to verify only, made
    the signer once every API pod has it, and the previous key removed once every API pod signs with
    the new one and the overlap and the runtime's token lifetime have passed. Each write rolls the
    API on the next reconcile; the step after waits for that rollout (`_api_propagated`).

    The API keeps serving meanwhile: the runtime reads JWT_KEYS once at start, so a new key set rolls
    the API Deployment (its pod template's config hash covers the key set; the workers' does not)
    rather than being reloaded: each new pod Ready before an old one goes (rolling update maxSurge 1,
    maxUnavailable 0; the PodDisruptionBudget keeps evictions to one pod meanwhile), and every pod,
    old or new, verifies every token that any pod signs until the previous key is removed.
    Reports status.rotation.jwtSigningKey, lastRotationTime, SecretsRotated, an Event per step and
    club_secret_last_rotation_timestamp_seconds: kids and times only, never a key."""
    club, names = ctx.club, ctx.names
    keys = (out.secrets.get(names.jwt_secret) or {}).get(credentials.JWT_KEYS)
    if keys is None:
        return  # ensure_app_secrets found the key set unusable
    at = rotation_steps.standing(ctx, rotation.JWT_SIGNING_KEY)
    record, request = at.record, at.request
    kid, secret = credentials.generate_jwt_key()
    policy = _policy(ctx)
    planned = rotation.advance(
        record,
        active_kid=credentials.active_key_id(keys),
        kids=credentials.key_ids(keys),
        propagated=_api_propagated(ctx, out),
        now=datetime.datetime.now(datetime.UTC),
        policy=policy,
        request=request,
        new_kid=kid,
    )
    written = keys
    if planned.action is rotation.Action.ISSUE:
        written = credentials.add_jwt_key(keys, kid, secret)
    elif planned.action is rotation.Action.ACTIVATE:
        written = credentials.activate_jwt_key(keys, planned.record.kid)
    elif planned.action is rotation.Action.REVOKE:
        written = credentials.keep_active_key(keys)
    if written != keys:
        # Replaced on purpose (keep nothing): the one place the key set changes once written.
        existing = kube.read_secret(names.namespace, names.jwt_secret)
        secret_writes.write(
            credentials.build_jwt_secret(names, club.owner, keys_json=written), out, frozenset(), existing
        )
        out.fields["jwtKeyId"] = credentials.active_key_id(written)
    record = planned.record
    rotation_steps.report(
        ctx,
        out,
        rotation.JWT_SIGNING_KEY,
        at,
        record,
        request_handled=planned.request_handled,
        events=planned.events,
    )
    out.fields["lastRotationTime"] = record.to_status()["issuedTime"]
    out.condition(Type.SECRETS_ROTATED, True, *_condition(record, policy))


def _condition(record: rotation.Record, policy: rotation.Policy) -> tuple[Reason, str]:
    status = record.to_status()
    previous = record.previous_kid
    if record.phase == rotation.Phase.ISSUED:
        message = (
            f"JWT signing key {record.kid} issued at {status['issuedTime']}, rolling out to the API pods"
        )
        if previous:
            message += f"; key {previous} keeps verifying"
        reason = Reason.ROTATION_ISSUED
    elif record.phase == rotation.Phase.PROPAGATED:
        message = f"every API pod signs with JWT signing key {record.kid} since {status['propagatedTime']}"
        revoke_at = record.revoke_at(policy)
        if previous and revoke_at is not None:
            message += f"; key {previous} is removed after {revoke_at:%Y-%m-%dT%H:%M:%SZ}"
        reason = Reason.ROTATION_PROPAGATED
    else:
        message = f"JWT signing key {record.kid} in use; key {previous} revoked at {status['revokedTime']}"
        reason = Reason.ROTATION_REVOKED
    return reason, f"{message}; next rotation at {status['nextRotationTime']}"


def _api_propagated(ctx: Context, out: Outcome) -> bool:
    """Every API pod runs the pod template this reconcile applied (so the key set now in the Secret)
    and is Ready: the Deployment observed its generation, every pod is updated, none of an older
    template is left, all are available. Only when the workloads step applied every object."""
    applied = [c for c in out.conditions if c.type == Type.WORKLOADS_READY]
    if not applied or applied[-1].reason not in (Reason.AVAILABLE, Reason.ROLLING_OUT):
        return False
    live = kube.read_object("apps/v1", "Deployment", ctx.names.namespace, ctx.names.api)
    if live is None or rollouts.waiting_for(live) is not None:
        return False
    status = live.get("status") or {}
    return int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)
