"""The API's connection pool: connections of the club's own role, rows as dicts.

Nothing tenant-related is set on a connection: the role itself decides what it sees, so a pooled
connection carries no state from one request to the next."""

from __future__ import annotations

from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

Conn = AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Conn]


def create_pool(dsn: str, *, min_size: int, max_size: int) -> Pool:
    """A pool not yet opened (open it in the app's lifespan)."""
    kwargs: dict[str, Any] = {"row_factory": dict_row, "connect_timeout": 5}
    return AsyncConnectionPool(
        dsn,
        connection_class=AsyncConnection[DictRow],
        kwargs=kwargs,
        min_size=min_size,
        max_size=max_size,
        open=False,
        name="club",
    )
