"""Login, refresh, me and logout.

Login: every attempt runs one argon2 verification, against the account's hash or, for an unknown
email or an inactive account, a dummy one, before anything is decided; then one UPDATE keyed by email
settles it (`db.logins.record_attempt`): a refusal adds one to the account's failure count in
PostgreSQL, so parallel guesses each count, and the one that reaches LOGIN_MAX_FAILURES locks the
account for LOGIN_LOCKOUT_SEC. A locked account, a wrong password and an unknown email get the same
401 after the same work, so neither the answer nor its time tells them apart. The verification holds
no database connection: a flood of guesses does not drain the pool.

Refresh tokens rotate: a login starts a family, each refresh consumes the token presented and returns
a new one, and presenting a token already used (a stolen copy, or the client's own) revokes the
family: every token of it, the newest included, is refused from then on. The state is in PostgreSQL
(`refresh_families`), so every API replica agrees. Logout signs the user out everywhere."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import Field, StringConstraints

from club_runtime.api import errors, metrics
from club_runtime.api.deps import AnyUser, ConnDep, Services, ServicesDep
from club_runtime.api.models import Email, Input, Output
from club_runtime.core import security
from club_runtime.db import logins, repo

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])

Password = Annotated[str, StringConstraints(min_length=1, max_length=256)]


class LoginIn(Input):
    email: Email
    password: Password


class RefreshIn(Input):
    refresh_token: Annotated[str, StringConstraints(min_length=1, max_length=4096)]


class TokenPair(Output):
    access_token: str
    refresh_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type, not a secret
    expires_in: int


# What a refresh needs of its user (never the password hash).
_USER_COLUMNS = ("id", "role", "active", "token_version")


class UserPublic(Output):
    id: uuid.UUID
    email: str
    full_name: str
    role: str
    player_id: uuid.UUID | None
    active: bool = Field(default=True)


def _refresh_expiry(services: Services) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=services.settings.jwt_refresh_ttl_sec)


def _pair(
    services: Services, user: repo.Row, *, family: uuid.UUID, jti: uuid.UUID, expires_at: datetime
) -> TokenPair:
    settings = services.settings

    def claims(kind: security.TokenKind, **ids: uuid.UUID) -> security.Claims:
        return security.Claims(user["id"], settings.club_id, user["role"], kind, user["token_version"], **ids)

    now = datetime.now(UTC)
    return TokenPair(
        access_token=security.issue_token(
            services.keys,
            claims=claims("access"),
            ttl=timedelta(seconds=settings.jwt_access_ttl_sec),
            now=now,
        ),
        refresh_token=security.issue_token(
            services.keys, claims=claims("refresh", jti=jti, family=family), ttl=expires_at - now, now=now
        ),
        expires_in=settings.jwt_access_ttl_sec,
    )


# One answer for every refused login: it must not tell a locked account or an unknown email apart.
LOGIN_REFUSED = "wrong email or password, or the account is locked after repeated failed logins"


def _refused() -> JSONResponse:
    metrics.LOGIN_FAILURES.inc()
    return JSONResponse(
        {"detail": LOGIN_REFUSED},
        status_code=status.HTTP_401_UNAUTHORIZED,
        headers={"WWW-Authenticate": "Bearer"},
    )


@router.post(
    "/login",
    response_model=TokenPair,
    responses={400: errors.COMMON_RESPONSES[400], 401: errors.COMMON_RESPONSES[401]},
)
async def login(body: LoginIn, services: ServicesDep) -> TokenPair | JSONResponse:
    settings = services.settings
    email = body.email.lower()
    async with services.pool.connection() as conn:
        stored = await logins.password_hash(conn, email)
    metrics.PASSWORD_VERIFICATIONS.inc()
    verified = await asyncio.to_thread(security.verify_password, stored, body.password)
    # Committed when the block ends, refusals included: the failure count must stick.
    async with services.pool.connection() as conn:
        attempt = await logins.record_attempt(
            conn,
            email,
            verified=verified,
            max_failures=settings.login_max_failures,
            lockout_sec=settings.login_lockout_sec,
        )
        if attempt is None or not attempt.admitted:
            return _refused()
        jti, expires_at = uuid.uuid4(), _refresh_expiry(services)
        family = await logins.start_family(conn, attempt.user["id"], jti, expires_at)
    return _pair(services, attempt.user, family=family, jti=jti, expires_at=expires_at)


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses={400: errors.COMMON_RESPONSES[400], 401: errors.COMMON_RESPONSES[401]},
)
async def refresh(body: RefreshIn, services: ServicesDep) -> TokenPair:
    try:
        claims = security.decode_token(
            services.keys, body.refresh_token, club_id=services.settings.club_id, kind="refresh"
        )
    except security.TokenError as exc:
        raise errors.unauthorized(str(exc)) from exc
    if claims.family is None or claims.jti is None:
        raise errors.unauthorized("a refresh token from before rotation: log in again")
    jti, expires_at = uuid.uuid4(), _refresh_expiry(services)
    # The block commits when it ends, a revocation included; the refusal is raised after it.
    async with services.pool.connection() as conn:
        user = await repo.fetch_one(conn, "users", {"id": claims.user_id}, columns=_USER_COLUMNS)
        if user is None or not user["active"] or user["token_version"] != claims.version:
            refusal = "the token's user no longer exists or was signed out"
        elif await logins.rotate(
            conn, claims.family, claims.user_id, used=claims.jti, new=jti, expires_at=expires_at
        ):
            return _pair(services, user, family=claims.family, jti=jti, expires_at=expires_at)
        elif await logins.revoke_family(conn, claims.family, claims.user_id):
            metrics.REFRESH_REUSE.inc()
            refusal = "refresh token already used: its session is revoked, log in again"
        else:
            refusal = "the token's session was revoked or has expired: log in again"
    raise errors.unauthorized(refusal)


@router.get("/me", response_model=UserPublic, responses={401: errors.COMMON_RESPONSES[401]})
async def me(user: AnyUser, conn: ConnDep) -> UserPublic:
    row = await repo.fetch_one(conn, "users", {"id": user.id})
    if row is None:
        raise errors.unauthorized("the token's user no longer exists")
    return UserPublic.model_validate(row)


@router.post("/logout", status_code=204, responses={401: errors.COMMON_RESPONSES[401]})
async def logout(user: AnyUser, conn: ConnDep) -> None:
    """Sign out everywhere: every token issued so far stops working, and every refresh family is revoked."""
    await conn.execute("UPDATE public.users SET token_version = token_version + 1 WHERE id = %s", [user.id])
    await logins.revoke_user_families(conn, user.id)
