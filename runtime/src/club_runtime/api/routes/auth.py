"""Login, refresh, me and logout. Repeated failed logins lock the account for a while; the failure
count is committed even though the answer is an error."""

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
from club_runtime.db import repo

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


class UserPublic(Output):
    id: uuid.UUID
    email: str
    full_name: str
    role: str
    player_id: uuid.UUID | None
    active: bool = Field(default=True)


def _pair(services: Services, row: repo.Row) -> TokenPair:
    settings = services.settings

    def claims(kind: security.TokenKind) -> security.Claims:
        return security.Claims(row["id"], settings.club_id, row["role"], kind, row["token_version"])

    return TokenPair(
        access_token=security.issue_token(
            services.keys, claims=claims("access"), ttl=timedelta(seconds=settings.jwt_access_ttl_sec)
        ),
        refresh_token=security.issue_token(
            services.keys, claims=claims("refresh"), ttl=timedelta(seconds=settings.jwt_refresh_ttl_sec)
        ),
        expires_in=settings.jwt_access_ttl_sec,
    )


def _refused(message: str, code: int = status.HTTP_401_UNAUTHORIZED) -> JSONResponse:
    metrics.LOGIN_FAILURES.inc()
    return JSONResponse({"detail": message}, status_code=code, headers={"WWW-Authenticate": "Bearer"})


@router.post(
    "/login",
    response_model=TokenPair,
    responses={
        400: errors.COMMON_RESPONSES[400],
        401: errors.COMMON_RESPONSES[401],
        429: {"model": errors.ErrorOut, "description": "Locked"},
    },
)
async def login(body: LoginIn, services: ServicesDep, conn: ConnDep) -> TokenPair | JSONResponse:
    settings = services.settings
    row = await repo.fetch_one(conn, "users", {"email": body.email.lower()})
    now = datetime.now(UTC)
    if row is not None and row["locked_until"] is not None and row["locked_until"] > now:
        return _refused("account locked after repeated failed logins; try again later", 429)
    stored = row["password_hash"] if row is not None and row["active"] else None
    ok = await asyncio.to_thread(security.verify_password, stored, body.password)
    if row is None or not ok:
        if row is not None:
            failures = row["failed_logins"] + 1
            locked = now + timedelta(seconds=settings.login_lockout_sec)
            await repo.update(
                conn,
                "users",
                {"id": row["id"]},
                {
                    "failed_logins": 0 if failures >= settings.login_max_failures else failures,
                    "locked_until": locked if failures >= settings.login_max_failures else None,
                },
            )
        return _refused("wrong email or password")
    await repo.update(conn, "users", {"id": row["id"]}, {"failed_logins": 0, "locked_until": None})
    return _pair(services, row)


@router.post(
    "/refresh",
    response_model=TokenPair,
    responses={400: errors.COMMON_RESPONSES[400], 401: errors.COMMON_RESPONSES[401]},
)
async def refresh(body: RefreshIn, services: ServicesDep, conn: ConnDep) -> TokenPair:
    try:
        claims = security.decode_token(
            services.keys, body.refresh_token, club_id=services.settings.club_id, kind="refresh"
        )
    except security.TokenError as exc:
        raise errors.unauthorized(str(exc)) from exc
    row = await repo.fetch_one(conn, "users", {"id": claims.user_id})
    if row is None or not row["active"] or row["token_version"] != claims.version:
        raise errors.unauthorized("the token's user no longer exists or was signed out")
    return _pair(services, row)


@router.get("/me", response_model=UserPublic, responses={401: errors.COMMON_RESPONSES[401]})
async def me(user: AnyUser, conn: ConnDep) -> UserPublic:
    row = await repo.fetch_one(conn, "users", {"id": user.id})
    if row is None:
        raise errors.unauthorized("the token's user no longer exists")
    return UserPublic.model_validate(row)


@router.post("/logout", status_code=204, responses={401: errors.COMMON_RESPONSES[401]})
async def logout(user: AnyUser, conn: ConnDep) -> None:
    """Sign out everywhere: every token issued so far stops working."""
    await conn.execute("UPDATE public.users SET token_version = token_version + 1 WHERE id = %s", [user.id])
