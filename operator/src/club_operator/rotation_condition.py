"""SecretsRotated: the one condition every service credential's rotation reports into (the Redis
and database passwords, the S3 access key, after the JWT key's). Each step adds where its
credential stands to the message; the reason is the least advanced phase among them, and a failure
already reported in this reconcile stands. Pure: no I/O."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from club_operator import rotation
from club_operator.club import Context
from club_operator.conditions import Condition, Reason, Type
from club_operator.outcome import Outcome

ORDER = (Reason.ROTATION_ISSUED, Reason.ROTATION_PROPAGATED, Reason.ROTATION_REVOKED)


def merge(out: Outcome, reason: Reason, message: str) -> None:
    """Add one credential's phase (`reason`) and `message` to the SecretsRotated condition of `out`."""
    found = [i for i, c in enumerate(out.conditions) if c.type == Type.SECRETS_ROTATED]
    if not found:
        out.condition(Type.SECRETS_ROTATED, True, reason, message)
        return
    i = found[-1]
    before = out.conditions[i]
    if not before.status:
        return  # a failure already reported stands
    least = min(Reason(before.reason), reason, key=ORDER.index) if before.reason in ORDER else reason
    out.conditions[i] = Condition(Type.SECRETS_ROTATED, True, least, f"{before.message}. {message}")


def service_policy(ctx: Context) -> rotation.Policy:
    """The Redis and database passwords' and the S3 key's schedule: databasePasswordInterval (the
    CRD's interval for service credentials) and `overlap`; they sign no tokens."""
    spec = ctx.spec.secrets.rotation
    return rotation.Policy(
        interval=spec.database_password_period, overlap=spec.overlap_period, lifetime=datetime.timedelta(0)
    )


@dataclass(frozen=True)
class Phrases:
    """How one credential's part of the message reads: format strings over {kid}, {previous} and the
    record's times ({issued}, {propagated}, {revoked}; {at}: when the previous one goes)."""

    issued: str
    propagated: str
    revoke_after: str
    revoked: str
    name: str  # as in "next <name> rotation at ..."


def describe(record: rotation.Record, pol: rotation.Policy, phrases: Phrases) -> tuple[Reason, str]:
    """One credential's part of SecretsRotated: its phase as a reason, and where it stands."""
    status = record.to_status()
    words = {
        "kid": record.kid,
        "previous": record.previous_kid,
        "issued": status.get("issuedTime"),
        "propagated": status.get("propagatedTime"),
        "revoked": status.get("revokedTime"),
    }
    if record.phase == rotation.Phase.ISSUED:
        reason, message = Reason.ROTATION_ISSUED, phrases.issued.format(**words)
    elif record.phase == rotation.Phase.PROPAGATED:
        reason, message = Reason.ROTATION_PROPAGATED, phrases.propagated.format(**words)
        revoke_at = record.revoke_at(pol)
        if record.previous_kid and revoke_at is not None:
            message += "; " + phrases.revoke_after.format(**words, at=f"{revoke_at:%Y-%m-%dT%H:%M:%SZ}")
    else:
        reason, message = Reason.ROTATION_REVOKED, phrases.revoked.format(**words)
    return reason, f"{message}; next {phrases.name} rotation at {status['nextRotationTime']}"


def merge_record(out: Outcome, record: rotation.Record, pol: rotation.Policy, phrases: Phrases) -> None:
    merge(out, *describe(record, pol, phrases))
