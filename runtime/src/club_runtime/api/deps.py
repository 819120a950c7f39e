"""Dependencies of the routes: the services the app holds, a database connection of the club role,
and the authenticated user with role checks.

A request that may write (POST, PUT, PATCH, DELETE) runs in one transaction, committed before the
response is sent. A read (GET, HEAD, OPTIONS) runs its statements in autocommit: PostgreSQL's default
READ COMMITTED isolation gives each statement its own snapshot inside a transaction too, so the
transaction would add nothing but its BEGIN and COMMIT, two of the four round trips of a typical
read (user lookup, query)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Query, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg.pq import TransactionStatus
from redis import Redis

from club_runtime import storage
from club_runtime.api import errors, tokens
from club_runtime.core import roles, security
from club_runtime.core.roles import Role
from club_runtime.db import repo
from club_runtime.db.pool import Conn, Pool
from club_runtime.settings import Settings


@dataclass
class Services:
    settings: Settings
    pool: Pool
    keys: security.KeySet
    redis: Redis
    bucket: storage.Bucket
    tokens: tokens.VerifiedTokens = field(default_factory=tokens.VerifiedTokens)


@dataclass(frozen=True)
class CurrentUser:
    id: uuid.UUID
    email: str
    role: Role
    player_id: uuid.UUID | None

    def is_player_bound(self) -> bool:
        return self.role in roles.PLAYER_BOUND

    def may_see_player(self, player_id: uuid.UUID) -> bool:
        return not self.is_player_bound() or self.player_id == player_id

    def may_see_medical(self, player_id: uuid.UUID) -> bool:
        return self.role in roles.MEDICAL or (self.role == Role.PLAYER and self.player_id == player_id)


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in a worker thread, a hop per request.
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


_READS = frozenset({"GET", "HEAD", "OPTIONS"})


async def get_conn(request: Request, services: ServicesDep) -> AsyncIterator[Conn]:
    if request.method not in _READS:
        async with services.pool.connection() as conn:
            yield conn
        return
    async with read_connection(services.pool) as conn:
        yield conn


@asynccontextmanager
async def read_connection(pool: Pool) -> AsyncIterator[Conn]:
    """A pooled connection in autocommit, for a request that only reads."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            await _back_to_transactions(conn)


async def _back_to_transactions(conn: Conn) -> None:
    """Leave the connection as the pool hands it out: not in autocommit. One not idle (a query cut
    short by a cancelled request) is closed instead, and the pool replaces it."""
    if conn.pgconn.transaction_status == TransactionStatus.IDLE:
        await conn.set_autocommit(False)
    else:
        await conn.close()


ConnDep = Annotated[Conn, Depends(get_conn, scope="function")]

# What a request needs of its user (never the password hash).
_USER_COLUMNS = ("id", "email", "role", "player_id", "active", "token_version")
_bearer = HTTPBearer(auto_error=False, description="An access token from /api/v1/auth/login")


async def token_claims(
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> security.Claims:
    """The claims of the request's access token, verified (key, signature, expiry, club, kind); 401
    otherwise. Whether its user may still use it is for the database to say: `current_user`, or a
    statement that checks the user itself (`db.user_pages`)."""
    if credentials is None:
        raise errors.unauthorized("authentication required: send 'Authorization: Bearer <access token>'")
    try:
        return services.tokens.access_claims(
            services.keys, credentials.credentials, club_id=services.settings.club_id
        )
    except security.TokenError as exc:
        raise errors.unauthorized(str(exc)) from exc


ClaimsDep = Annotated[security.Claims, Depends(token_claims)]

SIGNED_OUT = "the token's user no longer exists or was signed out"


async def current_user(claims: ClaimsDep, conn: ConnDep) -> CurrentUser:
    row = await repo.fetch_one(conn, "users", {"id": claims.user_id}, columns=_USER_COLUMNS)
    if row is None or not row["active"] or row["token_version"] != claims.version:
        raise errors.unauthorized(SIGNED_OUT)
    return CurrentUser(id=row["id"], email=row["email"], role=Role(row["role"]), player_id=row["player_id"])


UserDep = Annotated[CurrentUser, Depends(current_user)]


def require(allowed: frozenset[Role]) -> Callable[[CurrentUser], Coroutine[Any, Any, CurrentUser]]:
    async def check(user: UserDep) -> CurrentUser:
        if user.role not in allowed:
            raise errors.forbidden(f"role {user.role.value!r} may not do this")
        return user

    return check


AnyUser = UserDep
Staff = Annotated[CurrentUser, Depends(require(roles.STAFF))]
Managers = Annotated[CurrentUser, Depends(require(roles.MANAGERS))]
Coaching = Annotated[CurrentUser, Depends(require(roles.COACHING))]
MatchWriters = Annotated[CurrentUser, Depends(require(roles.MATCH_WRITERS))]
VideoWriters = Annotated[CurrentUser, Depends(require(roles.VIDEO_WRITERS))]
Medical = Annotated[CurrentUser, Depends(require(roles.MEDICAL))]


@dataclass(frozen=True)
class Page:
    limit: int
    offset: int


PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
MAX_OFFSET = 1_000_000


async def page(
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="page size")] = PAGE_SIZE,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="rows to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageDep = Annotated[Page, Depends(page)]


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


# The attribute a route keeps its declared query parameters in, worked out on its first request with
# a query string (routes compare by value, so they cannot key a dictionary).
_KNOWN_QUERY = "club_known_query"


async def known_query_only(request: Request) -> None:
    """Refuse query parameters the route does not declare, so that a misspelt filter (`?postion=GK`)
    is a 422 naming it rather than a silently unfiltered answer."""
    route = request.scope.get("route")
    if not request.query_params or not isinstance(route, APIRoute):
        return
    known: frozenset[str] | None = getattr(route, _KNOWN_QUERY, None)
    if known is None:
        known = _query_names(route.dependant)
        setattr(route, _KNOWN_QUERY, known)
    unknown = [name for name in request.query_params if name not in known]
    if unknown:
        raise RequestValidationError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ("query", name),
                    "msg": "Unknown query parameter",
                    "input": None,
                }
                for name in dict.fromkeys(unknown)
            ]
        )
