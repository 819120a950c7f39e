"""Generic row access for the API: insert, fetch, page, update, delete on one table.

Table and column names are identifiers from our own models (never from a request), composed with
`psycopg.sql`; values always travel as parameters. Row-level security scopes every statement to the
connection's club, so none of these take a club."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from club_runtime.db.pool import Conn

Row = dict[str, Any]


def _table(name: str) -> sql.Identifier:
    return sql.Identifier("public", name)


def _where(key: Mapping[str, Any]) -> sql.Composable:
    if not key:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(f"w_{column}")) for column in key
    )


def _params(key: Mapping[str, Any], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    params = {f"w_{column}": value for column, value in key.items()}
    params.update({f"v_{column}": value for column, value in (values or {}).items()})
    return params


async def insert(conn: Conn, table: str, values: Mapping[str, Any]) -> Row:
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *").format(
        _table(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in values),
        sql.SQL(", ").join(sql.Placeholder(f"v_{c}") for c in values),
    )
    cur = await conn.execute(query, _params({}, values))
    row = await cur.fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING yields the row or raises
    return row


async def upsert(conn: Conn, table: str, values: Mapping[str, Any], conflict: Sequence[str]) -> Row:
    updates = [c for c in values if c not in conflict]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {} RETURNING *").format(
        _table(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in values),
        sql.SQL(", ").join(sql.Placeholder(f"v_{c}") for c in values),
        sql.SQL(", ").join(sql.Identifier(c) for c in ("club_id", *conflict)),
        sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in updates
        ),
    )
    cur = await conn.execute(query, _params({}, values))
    row = await cur.fetchone()
    assert row is not None  # noqa: S101
    return row


def _columns(columns: Sequence[str] | None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns) if columns else sql.SQL("*")


async def fetch_one(
    conn: Conn, table: str, key: Mapping[str, Any], *, columns: Sequence[str] | None = None
) -> Row | None:
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(_columns(columns), _table(table), _where(key))
    cur = await conn.execute(query, _params(key))
    return await cur.fetchone()


async def fetch_page(
    conn: Conn,
    table: str,
    *,
    where: Mapping[str, Any],
    order_by: Sequence[str],
    limit: int,
    offset: int,
    columns: Sequence[str] | None = None,
) -> list[Row]:
    filters = {column: value for column, value in where.items() if value is not None}
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT {} OFFSET {}").format(
        _columns(columns),
        _table(table),
        _where(filters),
        sql.SQL(", ").join(sql.Identifier(c) for c in order_by),
        sql.Placeholder("limit"),
        sql.Placeholder("offset"),
    )
    cur = await conn.execute(query, {**_params(filters), "limit": limit, "offset": offset})
    return await cur.fetchall()


async def update(conn: Conn, table: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> Row | None:
    if not values:
        return await fetch_one(conn, table, key)
    query = sql.SQL("UPDATE {} SET {} WHERE {} RETURNING *").format(
        _table(table),
        sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(f"v_{c}")) for c in values
        ),
        _where(key),
    )
    cur = await conn.execute(query, _params(key, values))
    return await cur.fetchone()


async def delete(conn: Conn, table: str, key: Mapping[str, Any]) -> bool:
    query = sql.SQL("DELETE FROM {} WHERE {}").format(_table(table), _where(key))
    cur = await conn.execute(query, _params(key))
    return cur.rowcount > 0
