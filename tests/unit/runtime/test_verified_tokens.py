"""The API's cache of verified access tokens answers as `security.decode_token` would, and no longer
than the token's life."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from club_runtime.api import tokens
from club_runtime.core import security

CLUB = "club-a"
KEYS = security.KeySet.parse(json.dumps({"active": "k1", "keys": {"k1": "x" * 32}}))
OTHER_KEYS = security.KeySet.parse(json.dumps({"active": "k1", "keys": {"k1": "y" * 32}}))


def _token(keys: security.KeySet = KEYS, *, club: str = CLUB, kind: security.TokenKind = "access") -> str:
    claims = security.Claims(uuid.uuid4(), club, "coach", kind, 2)
    return security.issue_token(keys, claims=claims, ttl=timedelta(minutes=5))


def test_a_token_verified_once_gives_the_same_claims_again() -> None:
    cache = tokens.VerifiedTokens()
    token = _token()
    first = cache.access_claims(KEYS, token, club_id=CLUB)
    assert first == security.decode_token(KEYS, token, club_id=CLUB, kind="access")
    assert cache.access_claims(KEYS, token, club_id=CLUB) is first


@pytest.mark.parametrize(
    "token",
    [_token(OTHER_KEYS), _token(club="club-b"), _token(kind="refresh"), _token()[:-2] + "xx", "not a jwt"],
    ids=["other key", "other club", "refresh token", "bad signature", "garbage"],
)
def test_what_decode_token_refuses_is_refused_every_time(token: str) -> None:
    cache = tokens.VerifiedTokens()
    for _ in range(2):
        with pytest.raises(security.TokenError):
            cache.access_claims(KEYS, token, club_id=CLUB)


def test_a_cached_token_past_its_expiry_is_verified_again(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = tokens.VerifiedTokens()
    token = _token()
    cache.access_claims(KEYS, token, club_id=CLUB)
    verified: list[str] = []
    decode = security.decode_token

    def counted(keys: security.KeySet, text: str, **kwargs: Any) -> security.Claims:
        verified.append(text)
        return decode(keys, text, **kwargs)

    monkeypatch.setattr(security, "decode_token", counted)
    cache.access_claims(KEYS, token, club_id=CLUB)
    assert verified == []
    after_expiry = security.expiry(token) + 1
    monkeypatch.setattr(tokens.time, "time", lambda: after_expiry)
    cache.access_claims(KEYS, token, club_id=CLUB)
    assert verified == [token]


def test_the_cache_is_bounded() -> None:
    cache = tokens.VerifiedTokens(size=3)
    issued = [_token() for _ in range(5)]
    for token in issued:
        cache.access_claims(KEYS, token, club_id=CLUB)
    assert list(cache._verified) == issued[2:]


def test_another_key_set_or_club_starts_afresh() -> None:
    cache = tokens.VerifiedTokens()
    token = _token()
    cache.access_claims(KEYS, token, club_id=CLUB)
    with pytest.raises(security.TokenError):
        cache.access_claims(OTHER_KEYS, token, club_id=CLUB)
    cache.access_claims(KEYS, token, club_id=CLUB)
    with pytest.raises(security.TokenError, match="another club"):
        cache.access_claims(KEYS, token, club_id="club-b")
