"""SecretsRotated as the credentials' rotations merge into it (rotation_condition.py): the first adds
it, each next one appends its message and keeps the least advanced phase, a failure stands."""

from __future__ import annotations

from club_operator import rotation_condition
from club_operator.conditions import Condition, Reason, Type
from club_operator.outcome import Outcome


def test_the_first_credential_adds_the_condition() -> None:
    out = Outcome()
    rotation_condition.merge(out, Reason.ROTATION_PROPAGATED, "key a in use")
    assert out.conditions == [
        Condition(Type.SECRETS_ROTATED, True, Reason.ROTATION_PROPAGATED, "key a in use")
    ]


def test_each_next_credential_appends_and_the_least_advanced_phase_is_the_reason() -> None:
    out = Outcome()
    rotation_condition.merge(out, Reason.ROTATION_REVOKED, "jwt")
    rotation_condition.merge(out, Reason.ROTATION_ISSUED, "redis")
    rotation_condition.merge(out, Reason.ROTATION_PROPAGATED, "s3")
    assert out.conditions == [
        Condition(Type.SECRETS_ROTATED, True, Reason.ROTATION_ISSUED, "jwt. redis. s3"),
    ]


def test_a_failure_already_reported_stands() -> None:
    out = Outcome()
    out.failed(Type.SECRETS_ROTATED, Reason.SERVER_UNAVAILABLE, "redis down")
    rotation_condition.merge(out, Reason.ROTATION_REVOKED, "s3")
    assert [(c.status, c.reason, c.message) for c in out.conditions] == [
        (False, Reason.SERVER_UNAVAILABLE, "redis down")
    ]
