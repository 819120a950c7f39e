"""Loading into empty tables the way pg_restore does: the tables' keys, indexes and foreign keys are
set aside before the rows go in and built again afterwards, each index once, by sorting, and each
foreign key validated by one join, instead of every row being inserted into every index (with random
uuid keys, an index that does not fit in shared_buffers makes each insert wait on a read).

Only where nobody else's rows are at stake: the tables are empty (a scratch database, a new club's
dedicated database) or were emptied by the caller in the same transaction, and they are locked
`ACCESS EXCLUSIVE` for the transaction, so no other session sees them without their indexes. What is
dropped is read from the catalog first, in the server's own words (`pg_get_constraintdef`,
`pg_get_indexdef`), and created again by the same transaction: a failure anywhere rolls the drop back
too. Tables whose indexes or keys carry more than a definition (CLUSTER's mark, a replica identity,
a comment) or have an index not valid are left alone (`prepare` returns None)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

_CONSTRAINTS = """
SELECT k.conrelid::regclass::text, k.conname, k.contype, pg_get_constraintdef(k.oid)
FROM pg_constraint k
WHERE k.contype IN ('p', 'u', 'x', 'f')
  AND (k.conrelid = ANY(%(tables)s::regclass[]) OR k.confrelid = ANY(%(tables)s::regclass[]))
ORDER BY k.oid
"""

# Indexes that back no constraint (those come back with their constraint).
_INDEXES = """
SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY(%(tables)s::regclass[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid
                  AND k.conrelid = i.indrelid AND k.contype IN ('p', 'u', 'x'))
ORDER BY i.indexrelid
"""

_UNUSUAL = """
SELECT (SELECT count(*) FROM pg_index i
        WHERE i.indrelid = ANY(%(tables)s::regclass[])
          AND (i.indisclustered OR i.indisreplident OR NOT i.indisvalid
               OR obj_description(i.indexrelid, 'pg_class') IS NOT NULL))
     + (SELECT count(*) FROM pg_constraint k
        WHERE k.conrelid = ANY(%(tables)s::regclass[])
          AND obj_description(k.oid, 'pg_constraint') IS NOT NULL)
"""


class DanglingReference(ValueError):
    """Loaded rows reference rows that are not there: a foreign key could not be built again."""


@dataclass(frozen=True)
class _Constraint:
    table: str  # as regclass prints it: schema-qualified where needed, quoted where needed
    name: str
    kind: str
    definition: str


@dataclass(frozen=True)
class SetAside:
    """What `prepare` dropped, to be built again by `restore_indexes`."""

    constraints: tuple[_Constraint, ...]
    indexes: tuple[tuple[str, str], ...]


def is_empty(conn: psycopg.Connection[Any], tables: Sequence[str]) -> bool:
    for table in tables:
        row = conn.execute(
            sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier("public", table))
        ).fetchone()
        if row is None or row[0]:
            return False
    return True


def lock(conn: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    conn.execute(
        sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
            sql.SQL(", ").join(sql.Identifier("public", t) for t in tables)
        )
    )


def prepare(conn: psycopg.Connection[Any], tables: Sequence[str]) -> SetAside | None:
    """Drop the keys, indexes and foreign keys of `tables` (already locked by the caller) and of
    foreign keys pointing into them; None (nothing dropped) where an index carries more than its
    definition."""
    names = [f"public.{sql.Identifier(t).as_string(conn)}" for t in tables]
    params = {"tables": names}
    unusual = conn.execute(_UNUSUAL, params).fetchone()
    if unusual is None or unusual[0]:
        return None
    constraints = tuple(_Constraint(*row) for row in conn.execute(_CONSTRAINTS, params).fetchall())
    indexes = tuple((str(n), str(d)) for n, d in conn.execute(_INDEXES, params).fetchall())
    # Foreign keys first: they depend on the unique indexes they reference.
    for item in sorted(constraints, key=lambda c: c.kind != "f"):
        conn.execute(
            sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.SQL(item.table), sql.Identifier(item.name)
            )
        )
    for name, _ in indexes:
        conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))
    return SetAside(constraints, indexes)


def truncate(conn: psycopg.Connection[Any], tables: Sequence[str]) -> None:
    """Empty tables truncated in this transaction take their rows already frozen (`COPY ... FREEZE`):
    nobody reading them afterwards (verify, the club's API) has to set each row's hint bits, which
    writes every page once more. Like TRUNCATE itself this is not MVCC-safe for a transaction whose
    snapshot predates the commit; the tables are locked until then, and were empty."""
    conn.execute(
        sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier("public", t) for t in tables))
    )


def restore_indexes(conn: psycopg.Connection[Any], aside: SetAside) -> None:
    """Build again what `prepare` dropped: keys, then the other indexes, then the foreign keys
    (validated: each checks every row once, with one join). A duplicate key or a dangling reference
    in the loaded rows fails here, as it would have on insert."""
    # Sorts for the index builds in memory where they fit (this transaction only; the default 64MB
    # spills a few million keys to disk).
    conn.execute("SET LOCAL maintenance_work_mem = '256MB'")
    for item in aside.constraints:
        if item.kind != "f":
            _add(conn, item)
    for _, definition in aside.indexes:
        conn.execute(sql.SQL(definition))  # the server's own text
    for item in aside.constraints:
        if item.kind == "f":
            try:
                _add(conn, item)
            except psycopg.errors.ForeignKeyViolation as exc:
                raise DanglingReference(
                    f"table {item.table}: rows reference rows that the backup lacks ({item.definition})"
                ) from exc


def _add(conn: psycopg.Connection[Any], item: _Constraint) -> None:
    conn.execute(
        sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
            sql.SQL(item.table),
            sql.Identifier(item.name),
            sql.SQL(item.definition),
        )
    )
