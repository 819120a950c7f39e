"""A page of rows read in the same statement that checks the user asking for it.

A list route used to send two statements, one round trip each: the user's row (active, token
version, role), then the page. Here one statement does both, run as the club's role like every other
(row-level security scopes the user and the rows alike): no row comes back when the token's user does
not exist in this club, is deactivated, or has signed out since the token was issued (its
`token_version` moved on); otherwise every row holds one row of the page followed by the user's role
and player (a single row of NULLs before them when the page is empty).

A user of a player-bound role (a player, a parent) sees only the rows of their own player
(`bound_column` = their `player_id`; none when their account has no player). The role is the one this
statement reads, so a role or a player changed in the database counts from the next request on.

Table and column names come from our own models (never from a request) and are composed with
`psycopg.sql`; values travel as parameters; the text of each shape is composed once and kept, so that
psycopg prepares it once per connection."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from psycopg import sql
from psycopg.rows import tuple_row

from club_runtime.db.pool import Conn
from club_runtime.db.repo import Row


@dataclass(frozen=True)
class Shape:
    """What a page reads: the table, the columns returned (in order), the order of the rows, and
    the column a player-bound user is limited to. The first column is one never NULL in a row (the
    key): a NULL there stands for the empty page."""

    table: str
    columns: tuple[str, ...]
    order_by: tuple[str, ...]
    bound_column: str


@dataclass(frozen=True)
class UserPage:
    role: str
    player_id: uuid.UUID | None
    rows: list[Row]


@functools.lru_cache(maxsize=64)
def _statement(shape: Shape, filters: tuple[str, ...]) -> bytes:
    conditions = [sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(f"w_{c}")) for c in filters]
    conditions.append(
        sql.SQL("(me.role <> ALL(%(bound_roles)s) OR {} = me.player_id)").format(
            sql.Identifier(shape.bound_column)
        )
    )
    query = sql.SQL(
        "WITH me AS (SELECT role, player_id FROM public.users "
        "WHERE id = %(user_id)s AND active AND token_version = %(token_version)s) "
        "SELECT {page_columns}, me.role, me.player_id FROM me LEFT JOIN LATERAL ("
        "SELECT {columns} FROM {table} WHERE {where} ORDER BY {order} "
        "LIMIT %(limit)s OFFSET %(offset)s) AS page ON TRUE ORDER BY {page_order}"
    ).format(
        page_columns=sql.SQL(", ").join(sql.Identifier("page", c) for c in shape.columns),
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in shape.columns),
        table=sql.Identifier("public", shape.table),
        where=sql.SQL(" AND ").join(conditions),
        order=sql.SQL(", ").join(sql.Identifier(c) for c in shape.order_by),
        page_order=sql.SQL(", ").join(sql.Identifier("page", c) for c in shape.order_by),
    )
    return query.as_bytes(None)


async def fetch(
    conn: Conn,
    shape: Shape,
    *,
    user_id: uuid.UUID,
    token_version: int,
    bound_roles: Collection[str],
    where: Mapping[str, Any],
    limit: int,
    offset: int,
) -> UserPage | None:
    """The user's role and player, and the page (filtered by `where`, None values left out); None
    when the token's user is not an active user of this club at that token version."""
    filters = {column: value for column, value in where.items() if value is not None}
    params = {f"w_{column}": value for column, value in filters.items()}
    params |= {
        "user_id": user_id,
        "token_version": token_version,
        "bound_roles": list(bound_roles),
        "limit": limit,
        "offset": offset,
    }
    cur = conn.cursor(row_factory=tuple_row)
    await cur.execute(_statement(shape, tuple(filters)), params)
    found = await cur.fetchall()
    if not found:
        return None
    role, player_id = found[0][-2:]
    # The page's first column is never NULL in a row of the page: a NULL there is the empty page.
    # zip stops at the page's columns, before the user's two.
    names = shape.columns
    rows = [dict(zip(names, row)) for row in found if row[0] is not None]  # noqa: B905
    return UserPage(role=role, player_id=player_id, rows=rows)
