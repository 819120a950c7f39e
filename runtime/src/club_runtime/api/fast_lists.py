"""The list of players (`GET /api/v1/players`) answered before FastAPI routes the request.

Profiled under `bench/bench_api_rls.py`, FastAPI's own work on a request (matching the path through
the included routers, solving the route's ten dependencies, validating every query parameter) cost
more CPU than all the rest of a page of 50 players. This middleware answers the well-formed request
itself with the pieces the route uses: the token verified as `deps.token_claims` verifies it (the same
cache of verified tokens), then one statement, as the club's role, that checks the user (active, at
the token's version, their role) and reads the page (`players.page_of_players`), serialized by the
same function.

Whatever it does not answer with a page goes on to the route, which answers as it always has: no
token, or one it refuses, or a user the statement refuses (the route checks again and says 401), and
any query string that is not plainly valid (a parameter unknown, repeated, or not in its canonical
form: `limit=050`, an upper-case UUID). So the route stays the documented one (OpenAPI) and the one
answer for every error, and a test keeps the pages of both the same."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import parse_qsl

import psycopg
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from club_runtime.api import deps, errors, models
from club_runtime.api.deps import Page, Services
from club_runtime.api.routes import players
from club_runtime.core import security

PATH = "/api/v1/players"
_PARAMETERS = frozenset({"limit", "offset", "team_id", "position"})
_POSITIONS = frozenset(players.Position)


@dataclass(frozen=True)
class ListQuery:
    page: Page
    team_id: uuid.UUID | None
    position: players.Position | None


def _number(text: str, low: int, high: int) -> int | None:
    if not (text.isascii() and text.isdecimal()) or str(int(text)) != text:
        return None
    value = int(text)
    return value if low <= value <= high else None


def _uuid(text: str) -> uuid.UUID | None:
    try:
        value = uuid.UUID(text)
    except ValueError:
        return None
    return value if str(value) == text else None


def parse_query(query_string: bytes) -> ListQuery | None:
    """The list's parameters when every one is known, given once and in canonical form; else None
    (the route then validates them, and says what is wrong)."""
    given: dict[str, str] = {}
    for name, text in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
        if name not in _PARAMETERS or name in given:
            return None
        given[name] = text
    limit = _number(given.get("limit", str(deps.PAGE_SIZE)), 1, deps.MAX_PAGE_SIZE)
    offset = _number(given.get("offset", "0"), 0, deps.MAX_OFFSET)
    team_id = _uuid(given["team_id"]) if "team_id" in given else None
    position = given.get("position")
    if (
        limit is None
        or offset is None
        or ("team_id" in given and team_id is None)
        or (position is not None and position not in _POSITIONS)
    ):
        return None
    return ListQuery(
        Page(limit=limit, offset=offset), team_id, None if position is None else players.Position(position)
    )


def bearer_token(scope: Scope) -> str | None:
    """The credentials of the first Authorization header when it is a Bearer one (as HTTPBearer
    reads it)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None


def _list_route() -> APIRoute:
    for route in players.router.routes:
        if isinstance(route, APIRoute) and route.endpoint is players.list_players:
            return route
    raise LookupError("players.list_players is not routed")  # pragma: no cover - a code error


class Middleware:
    def __init__(self, app: ASGIApp, *, services: Services) -> None:
        self.app = app
        self.services = services
        # Set in the scope as the router would, so that the metrics label it with its template.
        self.route = _list_route()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] != PATH:
            await self.app(scope, receive, send)
            return
        query = parse_query(scope["query_string"])
        token = bearer_token(scope)
        claims = None if query is None or token is None else self._claims(token)
        if query is None or claims is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = self.route
        try:
            async with deps.read_connection(self.services.pool) as conn:
                rows = await players.page_of_players(conn, claims, query.page, query.team_id, query.position)
        except psycopg.OperationalError:
            await errors.unavailable("database")(scope, receive, send)
            return
        if rows is None:
            await self.app(scope, receive, send)
            return
        await models.page_response(rows, query.page)(scope, receive, send)

    def _claims(self, token: str) -> security.Claims | None:
        services = self.services
        try:
            return services.tokens.access_claims(services.keys, token, club_id=services.settings.club_id)
        except security.TokenError:
            return None
