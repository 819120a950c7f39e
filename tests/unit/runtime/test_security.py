"""Tokens carry their id and, for refresh tokens, their family; a malformed one is refused."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

import jwt
import pytest

from club_runtime.core import security

KEYS = security.KeySet.parse(json.dumps({"active": "k1", "keys": {"k1": "s" * 40}}))
CLUB = str(uuid.uuid4())


def claims(**ids: uuid.UUID) -> security.Claims:
    return security.Claims(uuid.uuid4(), CLUB, "coach", "refresh", 3, **ids)


def test_refresh_token_round_trips_its_id_and_family() -> None:
    issued = claims(jti=uuid.uuid4(), family=uuid.uuid4())
    token = security.issue_token(KEYS, claims=issued, ttl=timedelta(minutes=1))
    assert security.decode_token(KEYS, token, club_id=CLUB, kind="refresh") == issued


def test_a_token_without_family_gets_a_fresh_id() -> None:
    def issued() -> security.Claims:
        token = security.issue_token(KEYS, claims=claims(), ttl=timedelta(minutes=1))
        return security.decode_token(KEYS, token, club_id=CLUB, kind="refresh")

    first, second = issued(), issued()
    assert first.family is None
    assert first.jti is not None
    assert first.jti != second.jti


def test_a_malformed_family_is_an_invalid_token() -> None:
    payload = jwt.decode(
        security.issue_token(KEYS, claims=claims(), ttl=timedelta(minutes=1)),
        options={"verify_signature": False},
    )
    forged = jwt.encode({**payload, "fam": "not-a-uuid"}, "s" * 40, algorithm="HS256", headers={"kid": "k1"})
    with pytest.raises(security.TokenError, match="invalid token"):
        security.decode_token(KEYS, forged, club_id=CLUB, kind="refresh")


def test_verify_password_without_a_hash_is_false_even_for_the_dummy_password() -> None:
    assert security.verify_password(None, "no such user: timing equaliser") is False
    stored = security.hash_password("right")
    assert security.verify_password(stored, "right") is True
    assert security.verify_password(stored, "wrong") is False
