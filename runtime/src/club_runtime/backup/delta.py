"""A rollback rewrites only the rows that differ from the backup.

Every table of the backup is first loaded into a temporary staging table of the same columns (no
index, no WAL, dropped at commit). One hash join per table pairs the staging rows with the club's
rows by primary key and keeps the keys of those that differ (a row is alike when every column is:
by `=` for types where equal means written alike, by the text COPY writes for the rest). Then,
children first, the club's rows that differ are deleted, and, parents first, the backup's rows the
table lacks are inserted. A row nobody
changed since the backup is neither deleted nor inserted: its index entries stay as they are, which
in a shared database (indexes holding every club's rows, keyed by random uuids) is what a restore's
time goes to. The result is exactly the backup's rows, as a delete of all and a load of all would
give.

Only with row-by-row foreign key actions off (restore.begin_bulk): a cascade or SET NULL fired by
deleting a changed row could otherwise reach a row this kept. The caller checks the foreign keys in
bulk afterwards. A table without a primary key has no way to pair its rows: all of the club's go and
all of the backup's come back."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from club_runtime.backup import manifest, plan

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Done:
    rows: dict[str, int]  # loaded from the backup, per table
    deleted: dict[str, int]  # of the club's rows, changed or gone since the backup
    inserted: dict[str, int]


def rollback(
    conn: psycopg.Connection[Any],
    schema: plan.Schema,
    found: manifest.Manifest,
    club: object,
    load: Callable[[manifest.TableEntry, sql.Identifier], int],
) -> Done:
    """Every tenant table but the root: staged (`load` copies a table's backup into a staging
    table), then the club's rows that differ deleted (children first), then the missing inserted
    (parents first). The caller owns the transaction and checks the foreign keys."""
    # Room for the staging tables and the join that compares each with its table (this transaction
    # only), and a hash join for it: without statistics on the staging tables the planner may take a
    # merge join over the primary key's index, reading the table in random order.
    for setting in ("temp_buffers = '64MB'", "work_mem = '256MB'", "enable_mergejoin = off"):
        conn.execute(sql.SQL("SET LOCAL ") + sql.SQL(setting))
    staged: list[tuple[plan.Table, sql.Identifier, sql.Identifier]] = []
    rows: dict[str, int] = {}
    for index, table in enumerate(schema.tables):
        if table.is_root:
            continue
        staging, diff = staging_name(index), diff_name(index)
        create_staging(conn, table, staging)
        entry = found.table(table.name)
        if entry is not None:
            rows[table.name] = load(entry, staging)
        staged.append((table, staging, diff))
    for table, staging, diff in staged:
        if table.primary_key:
            find_changes(conn, table, staging, diff, club)
    deleted = {table.name: delete_changed(conn, table, diff, club) for table, _, diff in reversed(staged)}
    inserted = {table.name: insert_missing(conn, table, staging, diff) for table, staging, diff in staged}
    log.info(
        "rolled back: %d rows deleted or changed, %d inserted", sum(deleted.values()), sum(inserted.values())
    )
    return Done(rows, deleted, inserted)


def staging_name(index: int) -> sql.Identifier:
    return sql.Identifier(f"club_restore_{index}")


def create_staging(conn: psycopg.Connection[Any], table: plan.Table, staging: sql.Identifier) -> None:
    """An empty temporary table with the columns of `table` (their types, no index, no constraint
    but NOT NULL), dropped at commit."""
    conn.execute(
        sql.SQL("CREATE TEMPORARY TABLE {} (LIKE {}) ON COMMIT DROP").format(
            staging, sql.Identifier("public", table.name)
        )
    )


# Types whose `=` holds only between values COPY writes the same way (uuid, integers, dates, times:
# no two spellings of one value). Text compares so only under a deterministic collation. Every other
# column (numeric: 1.0 = 1.00; float: -0 = 0; json: no `=` at all) compares by its text.
_EXACT_EQUALITY = frozenset(
    {
        "uuid",
        "boolean",
        "smallint",
        "integer",
        "bigint",
        "date",
        "timestamp without time zone",
        "timestamp with time zone",
        "time without time zone",
        "bytea",
    }
)
_TEXT = frozenset({"text", "character varying"})

_COLUMN_TYPES = """
SELECT a.attname, a.atttypid::regtype::text, coalesce(c.collisdeterministic, true)
FROM pg_attribute a LEFT JOIN pg_collation c ON c.oid = a.attcollation
WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped
"""


def diff_name(index: int) -> sql.Identifier:
    return sql.Identifier(f"club_restore_{index}_diff")


def find_changes(
    conn: psycopg.Connection[Any],
    table: plan.Table,
    staging: sql.Identifier,
    diff: sql.Identifier,
    club: object,
) -> None:
    """One pass over the staging table and the club's rows (a hash full join on the primary key)
    into `diff`: the keys of the backup's rows the table lacks as they are (`new_*`) and of the
    club's rows the backup does not hold as they are (`old_*`); a row alike on both sides is in
    neither. Only for a table with a primary key (without one, every row goes and comes back)."""
    key = table.primary_key
    cur = conn.execute(
        sql.SQL(
            "CREATE TEMPORARY TABLE {diff} ON COMMIT DROP AS SELECT {new}, {old} FROM {staging} s "
            "FULL JOIN (SELECT * FROM {target} WHERE club_id = {club}) d ON {same_key} "
            "WHERE {missing_new} OR {missing_old} OR NOT ({same_row})"
        ).format(
            diff=diff,
            new=sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(sql.Identifier("s", c), sql.Identifier(f"new_{i}"))
                for i, c in enumerate(key)
            ),
            old=sql.SQL(", ").join(
                sql.SQL("{} AS {}").format(sql.Identifier("d", c), sql.Identifier(f"old_{i}"))
                for i, c in enumerate(key)
            ),
            staging=staging,
            target=sql.Identifier("public", table.name),
            club=sql.Literal(club),
            same_key=_same_key(table),
            missing_new=sql.SQL("{} IS NULL").format(sql.Identifier("s", key[0])),
            missing_old=sql.SQL("{} IS NULL").format(sql.Identifier("d", key[0])),
            same_row=_same_row(conn, table),
        )
    )
    del cur


def delete_changed(
    conn: psycopg.Connection[Any], table: plan.Table, diff: sql.Identifier, club: object
) -> int:
    """Delete the club's rows that the backup does not hold as they are; returns how many."""
    target = sql.Identifier("public", table.name)
    if not table.primary_key:
        cur = conn.execute(sql.SQL("DELETE FROM {} WHERE club_id = %s").format(target), [club])
        return cur.rowcount
    cur = conn.execute(
        sql.SQL("DELETE FROM {target} d USING {diff} x WHERE d.club_id = %s AND {same_key}").format(
            target=target,
            diff=diff,
            same_key=sql.SQL(" AND ").join(
                sql.SQL("{} = {}").format(sql.Identifier("d", c), sql.Identifier("x", f"old_{i}"))
                for i, c in enumerate(table.primary_key)
            ),
        ),
        [club],
    )
    return cur.rowcount


def _same_row(conn: psycopg.Connection[Any], table: plan.Table) -> sql.Composable:
    types = {
        str(name): (str(type_name), bool(deterministic))
        for name, type_name, deterministic in conn.execute(
            _COLUMN_TYPES, [sql.Identifier("public", table.name).as_string(conn)]
        ).fetchall()
    }
    tests: list[sql.Composable] = []
    for column in table.columns:
        type_name, deterministic = types[column]
        s, d = sql.Identifier("s", column), sql.Identifier("d", column)
        if type_name in _EXACT_EQUALITY or (type_name in _TEXT and deterministic):
            tests.append(sql.SQL("{} IS NOT DISTINCT FROM {}").format(s, d))
        else:
            tests.append(sql.SQL("{}::text IS NOT DISTINCT FROM {}::text").format(s, d))
    return sql.SQL(" AND ").join(tests) if tests else sql.SQL("true")


def insert_missing(
    conn: psycopg.Connection[Any], table: plan.Table, staging: sql.Identifier, diff: sql.Identifier
) -> int:
    """Insert the backup's rows the table lacks as they are (after `delete_changed`: the rows that
    were changed, deleted or never there), in key order; returns how many."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.columns)
    target = sql.Identifier("public", table.name)
    if not table.primary_key:
        cur = conn.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(target, columns, columns, staging)
        )
        return cur.rowcount
    cur = conn.execute(
        sql.SQL(
            "INSERT INTO {target} ({columns}) SELECT {selected} FROM {staging} s JOIN {diff} x ON {same_key} "
            "ORDER BY {key}"
        ).format(
            target=target,
            columns=columns,
            selected=_row(table, "s"),
            staging=staging,
            diff=diff,
            same_key=sql.SQL(" AND ").join(
                sql.SQL("{} = {}").format(sql.Identifier("s", c), sql.Identifier("x", f"new_{i}"))
                for i, c in enumerate(table.primary_key)
            ),
            key=sql.SQL(", ").join(sql.Identifier("s", c) for c in table.primary_key),
        )
    )
    return cur.rowcount


def _row(table: plan.Table, alias: str) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(alias, c) for c in table.columns)


def _same_key(table: plan.Table) -> sql.Composable:
    return sql.SQL(" AND ").join(
        sql.SQL("{} = {}").format(sql.Identifier("s", c), sql.Identifier("d", c)) for c in table.primary_key
    )
