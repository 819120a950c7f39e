"""Access tokens this process has verified, kept by their exact text until they expire.

Verifying a token (its key id, HMAC signature and claims) is a function of its text and of the key
set, and a process keeps its key set for life (a rotation or a revoke rolls the pods), so verifying
the same text again can only give the same answer until the token expires. Only that verification is
kept: the user behind the token is still read from the database on every request (active,
token_version), so signing out, a password change or a disabled account takes effect at once. The
cache holds for one key set (by identity) and club: given another, it starts empty."""

from __future__ import annotations

import time

from club_runtime.core import security

# Beyond this many tokens the oldest is dropped; a miss only costs one verification.
MAX_TOKENS = 4096


class VerifiedTokens:
    def __init__(self, *, size: int = MAX_TOKENS) -> None:
        self._size = size
        self._keys: security.KeySet | None = None
        self._club_id = ""
        self._verified: dict[str, tuple[security.Claims, float]] = {}

    def access_claims(self, keys: security.KeySet, token: str, *, club_id: str) -> security.Claims:
        """The claims of a valid access token of the club signed with one of `keys`;
        `security.TokenError` otherwise. Another key set or club than the last call's empties the cache."""
        if keys is not self._keys or club_id != self._club_id:
            self._verified.clear()
            self._keys, self._club_id = keys, club_id
        hit = self._verified.get(token)
        if hit is not None:
            claims, expires = hit
            if time.time() < expires:
                return claims
            del self._verified[token]
        claims = security.decode_token(keys, token, club_id=club_id, kind="access")
        if len(self._verified) >= self._size:
            del self._verified[next(iter(self._verified))]
        self._verified[token] = (claims, security.expiry(token))
        return claims
