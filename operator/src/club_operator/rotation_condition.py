"""SecretsRotated: the one condition every service credential's rotation reports into (the Redis
and database passwords, the S3 access key, after the JWT key's). Each step adds where its
credential stands to the message; the reason is the least advanced phase among them, and a failure
already reported in this reconcile stands. Pure: no I/O."""

from __future__ import annotations

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
