"""Passwords (argon2id) and JSON Web Tokens signed from a key set.

The key set is JSON `{"active": kid, "keys": {kid: secret}}`. New tokens are signed with the active key
and carry its `kid` in the header; verification accepts any key still in the set, so a rotation (new
active key, previous key kept for an overlap period) leaves tokens already issued valid until they
expire, and removing a key revokes every token it signed.

Every token has an id (`jti`); a refresh token also names its family (`fam`, one per login), which
the login routes use to rotate refresh tokens and to revoke a family whose used token comes back."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

ALGORITHM = "HS256"
TokenKind = Literal["access", "refresh"]

# OWASP's recommended argon2id floor: 19 MiB, 2 passes.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
# Verified against when the email is unknown, so that a miss costs what a hit costs.
_DUMMY_HASH = _HASHER.hash("no such user: timing equaliser")


class KeySetError(ValueError):
    """The configured key set is missing or malformed."""


class TokenError(Exception):
    """A token is malformed, expired, signed by an unknown key, or of the wrong kind."""


@dataclass(frozen=True)
class KeySet:
    active: str
    keys: dict[str, str]

    @classmethod
    def parse(cls, raw: str) -> KeySet:
        try:
            data = json.loads(raw)
            active, keys = str(data["active"]), {str(k): str(v) for k, v in data["keys"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise KeySetError('JWT_KEYS must be JSON {"active": kid, "keys": {kid: secret}}') from exc
        if active not in keys:
            raise KeySetError("JWT_KEYS: the active kid is not among the keys")
        if any(len(secret) < 32 for secret in keys.values()):
            raise KeySetError("JWT_KEYS: every secret must be at least 32 characters")
        return cls(active=active, keys=keys)


@dataclass(frozen=True)
class Claims:
    user_id: uuid.UUID
    club_id: str
    role: str
    kind: TokenKind
    version: int
    # The token's own id (a fresh one when issuing without it) and, for refresh tokens, its family.
    jti: uuid.UUID | None = None
    family: uuid.UUID | None = None


def issue_token(keys: KeySet, *, claims: Claims, ttl: timedelta, now: datetime | None = None) -> str:
    issued = now or datetime.now(UTC)
    payload = {
        "sub": str(claims.user_id),
        "club": claims.club_id,
        "role": claims.role,
        "typ": claims.kind,
        "ver": claims.version,
        "iat": issued,
        "exp": issued + ttl,
        "jti": (claims.jti or uuid.uuid4()).hex,
    }
    if claims.family is not None:
        payload["fam"] = claims.family.hex
    return jwt.encode(payload, keys.keys[keys.active], algorithm=ALGORITHM, headers={"kid": keys.active})


def decode_token(keys: KeySet, token: str, *, club_id: str, kind: TokenKind) -> Claims:
    try:
        kid = jwt.get_unverified_header(token).get("kid")
        if not isinstance(kid, str) or kid not in keys.keys:
            raise TokenError("token signed by a key that is not in the key set")
        payload = jwt.decode(
            token, keys.keys[kid], algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub", "typ"]}
        )
        claims = Claims(
            user_id=uuid.UUID(str(payload["sub"])),
            club_id=str(payload["club"]),
            role=str(payload["role"]),
            kind=payload["typ"],
            version=int(payload["ver"]),
            jti=_optional_uuid(payload.get("jti")),
            family=_optional_uuid(payload.get("fam")),
        )
    except jwt.ExpiredSignatureError as exc:
        raise TokenError("token expired") from exc
    except (jwt.InvalidTokenError, KeyError, ValueError, TypeError) as exc:
        raise TokenError("invalid token") from exc
    if claims.kind != kind:
        raise TokenError(f"expected an {kind} token")
    if claims.club_id != club_id:
        raise TokenError("token issued for another club")
    return claims


def expiry(token: str) -> float:
    """When a token `decode_token` accepted expires (POSIX seconds); read without verifying again."""
    return float(jwt.decode(token, options={"verify_signature": False})["exp"])


def _optional_uuid(value: object) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(str(value))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Constant-shape check: with no hash (unknown user) a dummy hash is verified and False returned."""
    try:
        ok = _HASHER.verify(password_hash or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and password_hash is not None
