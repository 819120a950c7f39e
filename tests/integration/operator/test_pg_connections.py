"""Admin connections reused between reconciles, against the stack's PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from club_operator import pg_connections


@pytest.fixture(autouse=True)
def _no_idle_connections() -> Iterator[None]:
    pg_connections.close_all()
    yield
    pg_connections.close_all()


def _backend(dsn: str) -> int:
    with pg_connections.admin(dsn) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert row is not None
        return int(row[0])


def test_a_connection_is_reused_rather_than_opened_again(database: str) -> None:
    assert _backend(database) == _backend(database)


def test_a_connection_that_failed_is_not_reused(database: str) -> None:
    first = _backend(database)
    with pytest.raises(psycopg.errors.UndefinedTable), pg_connections.admin(database) as conn:
        conn.execute("SELECT * FROM no_such_table")
    assert _backend(database) != first


def test_a_connection_the_server_closed_is_replaced(database: str) -> None:
    first = _backend(database)
    with psycopg.connect(database, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [first])
    assert _backend(database) != first


def test_statements_in_a_transaction_commit_together(database: str) -> None:
    def two_rows(conn: psycopg.Connection[tuple[int]]) -> None:
        with conn.transaction():
            conn.execute("INSERT INTO t VALUES (1)")
            conn.execute("INSERT INTO t VALUES (1)")

    with pg_connections.admin(database) as conn:
        conn.execute("CREATE TABLE t (n int UNIQUE)")
        with pytest.raises(psycopg.errors.UniqueViolation):
            two_rows(conn)
    with psycopg.connect(database) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone() == (0,)
