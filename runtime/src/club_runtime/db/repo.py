"""Generic row access for the API: insert, fetch, page, update, delete on one table.

Table and column names are identifiers from our own models (never from a request), composed with
`psycopg.sql`; values always travel as parameters. Row-level security scopes every statement to the
connection's club, so none of these take a club.

Each statement's text is composed once per shape (table, columns, keys) and kept: composing it again
on every request cost more CPU than the query took in PostgreSQL. The shapes are finite (they come
from the code), and the same text lets psycopg reuse its parsing and PostgreSQL its prepared plan."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from club_runtime.db.pool import Conn

Row = dict[str, Any]


def _table(name: str) -> sql.Identifier:
    return sql.Identifier("public", name)


def _where(key: Sequence[str]) -> sql.Composable:
    if not key:
        return sql.SQL("TRUE")
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(f"w_{column}")) for column in key
    )


def _params(key: Mapping[str, Any], values: Mapping[str, Any] | None = None) -> dict[str, Any]:
    params = {f"w_{column}": value for column, value in key.items()}
    params.update({f"v_{column}": value for column, value in (values or {}).items()})
    return params


@functools.lru_cache(maxsize=256)
def _insert(table: str, columns: tuple[str, ...]) -> bytes:
    return (
        sql.SQL("INSERT INTO {} ({}) VALUES ({}) RETURNING *")
        .format(
            _table(table),
            sql.SQL(", ").join(sql.Identifier(c) for c in columns),
            sql.SQL(", ").join(sql.Placeholder(f"v_{c}") for c in columns),
        )
        .as_bytes(None)
    )


async def insert(conn: Conn, table: str, values: Mapping[str, Any]) -> Row:
    cur = await conn.execute(_insert(table, tuple(values)), _params({}, values))
    row = await cur.fetchone()
    assert row is not None  # noqa: S101 - INSERT ... RETURNING yields the row or raises
    return row


@functools.lru_cache(maxsize=256)
def _upsert(table: str, columns: tuple[str, ...], conflict: tuple[str, ...]) -> bytes:
    updates = [c for c in columns if c not in conflict]
    query = sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT ({}) DO UPDATE SET {} RETURNING *").format(
        _table(table),
        sql.SQL(", ").join(sql.Identifier(c) for c in columns),
        sql.SQL(", ").join(sql.Placeholder(f"v_{c}") for c in columns),
        sql.SQL(", ").join(sql.Identifier(c) for c in ("club_id", *conflict)),
        sql.SQL(", ").join(
            sql.SQL("{} = EXCLUDED.{}").format(sql.Identifier(c), sql.Identifier(c)) for c in updates
        ),
    )
    return query.as_bytes(None)


async def upsert(conn: Conn, table: str, values: Mapping[str, Any], conflict: Sequence[str]) -> Row:
    cur = await conn.execute(_upsert(table, tuple(values), tuple(conflict)), _params({}, values))
    row = await cur.fetchone()
    assert row is not None  # noqa: S101
    return row


def _columns(columns: Sequence[str] | None) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in columns) if columns else sql.SQL("*")


def _names(columns: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if columns is None else tuple(columns)


@functools.lru_cache(maxsize=256)
def _select(table: str, columns: tuple[str, ...] | None, key: tuple[str, ...]) -> bytes:
    query = sql.SQL("SELECT {} FROM {} WHERE {}").format(_columns(columns), _table(table), _where(key))
    return query.as_bytes(None)


async def fetch_one(
    conn: Conn, table: str, key: Mapping[str, Any], *, columns: Sequence[str] | None = None
) -> Row | None:
    cur = await conn.execute(_select(table, _names(columns), tuple(key)), _params(key))
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
    query = _select_page(table, _names(columns), tuple(filters), tuple(order_by))
    cur = await conn.execute(query, {**_params(filters), "limit": limit, "offset": offset})
    return await cur.fetchall()


@functools.lru_cache(maxsize=256)
def _select_page(
    table: str, columns: tuple[str, ...] | None, filters: tuple[str, ...], order_by: tuple[str, ...]
) -> bytes:
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT {} OFFSET {}").format(
        _columns(columns),
        _table(table),
        _where(filters),
        sql.SQL(", ").join(sql.Identifier(c) for c in order_by),
        sql.Placeholder("limit"),
        sql.Placeholder("offset"),
    )
    return query.as_bytes(None)


async def update(conn: Conn, table: str, key: Mapping[str, Any], values: Mapping[str, Any]) -> Row | None:
    if not values:
        return await fetch_one(conn, table, key)
    cur = await conn.execute(_update(table, tuple(values), tuple(key)), _params(key, values))
    return await cur.fetchone()


@functools.lru_cache(maxsize=256)
def _update(table: str, columns: tuple[str, ...], key: tuple[str, ...]) -> bytes:
    query = sql.SQL("UPDATE {} SET {} WHERE {} RETURNING *").format(
        _table(table),
        sql.SQL(", ").join(
            sql.SQL("{} = {}").format(sql.Identifier(c), sql.Placeholder(f"v_{c}")) for c in columns
        ),
        _where(key),
    )
    return query.as_bytes(None)


@functools.lru_cache(maxsize=256)
def _delete(table: str, key: tuple[str, ...]) -> bytes:
    return sql.SQL("DELETE FROM {} WHERE {}").format(_table(table), _where(key)).as_bytes(None)


async def delete(conn: Conn, table: str, key: Mapping[str, Any]) -> bool:
    cur = await conn.execute(_delete(table, tuple(key)), _params(key))
    return cur.rowcount > 0
