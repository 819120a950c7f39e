"""The bookkeeping of logins, in single statements that PostgreSQL makes atomic.

`record_attempt` settles one login attempt on the account's row: a refused attempt adds one to
`failed_logins` in the UPDATE itself (parallel guesses queue on the row lock and each sees the count
the previous one committed, so none is lost), the attempt that brings the count to the limit locks
the account, and an admitted one resets both. Whatever the outcome, an attempt is the same one
statement, keyed by email: an unknown email updates nothing but costs the same round trip.

Refresh token families (`refresh_families`, one row per login) hold the one token id that may be
used next. `rotate` is a compare-and-swap on it; when it misses, `revoke_family` ends the family.
Row-level security scopes every statement to the connection's club."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from club_runtime.db.pool import Conn
from club_runtime.db.repo import Row

# One statement for every outcome. `now()` is the start of the transaction, of which this is the first
# statement. Admitted: a verified password, an active account, no lock running. Refused: one more
# failure, or the first one again when the lock has run out; the failure that reaches the limit locks
# the account, and a running lock is left as it is (more guesses do not prolong it).
_RECORD_ATTEMPT = """
UPDATE public.users SET
    failed_logins = CASE
        WHEN %(verified)s AND active AND NOT coalesce(locked_until > now(), false) THEN 0
        WHEN coalesce(locked_until <= now(), false) THEN 1
        ELSE failed_logins + 1
    END,
    locked_until = CASE
        WHEN %(verified)s AND active AND NOT coalesce(locked_until > now(), false) THEN NULL
        WHEN coalesce(locked_until > now(), false) THEN locked_until
        WHEN (CASE WHEN locked_until IS NULL THEN failed_logins + 1 ELSE 1 END) >= %(max_failures)s
            THEN now() + %(lockout_sec)s * interval '1 second'
        ELSE NULL
    END
WHERE email = %(email)s
RETURNING id, role, token_version, failed_logins
"""


@dataclass(frozen=True)
class Attempt:
    """What one login attempt did to its account (None from `record_attempt`: no such email)."""

    user: Row
    admitted: bool


async def password_hash(conn: Conn, email: str) -> str | None:
    """The hash to verify a login against: None for an unknown email or an inactive account."""
    cur = await conn.execute("SELECT password_hash, active FROM public.users WHERE email = %s", [email])
    row = await cur.fetchone()
    return str(row["password_hash"]) if row is not None and row["active"] else None


async def record_attempt(
    conn: Conn, email: str, *, verified: bool, max_failures: int, lockout_sec: int
) -> Attempt | None:
    """Settle a login attempt whose password check said `verified`: admitted only when the password
    was right, the account active and not locked."""
    cur = await conn.execute(
        _RECORD_ATTEMPT,
        {"email": email, "verified": verified, "max_failures": max_failures, "lockout_sec": lockout_sec},
    )
    row = await cur.fetchone()
    if row is None:
        return None
    return Attempt(user=row, admitted=verified and row["failed_logins"] == 0)


async def start_family(conn: Conn, user_id: uuid.UUID, jti: uuid.UUID, expires_at: datetime) -> uuid.UUID:
    """A new family whose current token is `jti`; families of the user that have expired go."""
    await conn.execute(
        "DELETE FROM public.refresh_families WHERE user_id = %s AND expires_at < now()", [user_id]
    )
    cur = await conn.execute(
        "INSERT INTO public.refresh_families (user_id, current_jti, expires_at) VALUES (%s, %s, %s) "
        "RETURNING id",
        [user_id, jti, expires_at],
    )
    row = await cur.fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING yields the row or raises
    family: uuid.UUID = row["id"]
    return family


async def rotate(
    conn: Conn,
    family: uuid.UUID,
    user_id: uuid.UUID,
    *,
    used: uuid.UUID,
    new: uuid.UUID,
    expires_at: datetime,
) -> bool:
    """Consume token `used` of a live family and make `new` its current token. False when `used` is
    not the family's current token (already used), or the family is revoked or unknown."""
    cur = await conn.execute(
        "UPDATE public.refresh_families SET current_jti = %(new)s, expires_at = %(expires_at)s "
        "WHERE id = %(family)s AND user_id = %(user_id)s AND current_jti = %(used)s AND revoked_at IS NULL",
        {"new": new, "expires_at": expires_at, "family": family, "user_id": user_id, "used": used},
    )
    return cur.rowcount == 1


async def revoke_family(conn: Conn, family: uuid.UUID, user_id: uuid.UUID) -> bool:
    """Revoke the family; True when it was live until now (a reuse rather than a revoked family)."""
    cur = await conn.execute(
        "UPDATE public.refresh_families SET revoked_at = now() "
        "WHERE id = %s AND user_id = %s AND revoked_at IS NULL",
        [family, user_id],
    )
    return cur.rowcount == 1


async def revoke_user_families(conn: Conn, user_id: uuid.UUID) -> None:
    await conn.execute(
        "UPDATE public.refresh_families SET revoked_at = now() WHERE user_id = %s AND revoked_at IS NULL",
        [user_id],
    )
