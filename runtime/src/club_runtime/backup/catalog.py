"""The tenant schema as the database has it, read from PostgreSQL's catalog: every ordinary table of
`public` with a `club_id` column and row-level security enabled, its columns (in order, generated and
dropped ones left out), its uuid and key columns, and the foreign keys between such tables. Read from
the catalog, not from a list in code, so a table a migration adds is backed up without anyone
remembering to add it. Any role may read the catalog: the club's own does it for a backup."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg

from club_runtime.backup import plan

_TABLES = """
SELECT c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity
  AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'club_id'
              AND NOT a.attisdropped)
ORDER BY c.relname
"""

_COLUMNS = """
SELECT c.relname, a.attname, a.atttypid = 'uuid'::regtype
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = 'public' AND c.relname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
  AND a.attgenerated = ''
ORDER BY c.relname, a.attnum
"""

# Primary keys, unique constraints and foreign keys, with their columns in constraint order.
_CONSTRAINTS = """
SELECT c.relname, k.contype,
       ARRAY(SELECT a.attname FROM unnest(k.conkey) WITH ORDINALITY u(num, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num ORDER BY u.i),
       f.relname,
       ARRAY(SELECT a.attname FROM unnest(k.confkey) WITH ORDINALITY u(num, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num ORDER BY u.i)
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_class f ON f.oid = k.confrelid
WHERE n.nspname = 'public' AND c.relname = ANY(%s) AND k.contype IN ('p', 'u', 'f')
ORDER BY c.relname, k.conname
"""


_OUTSIDE = """
SELECT DISTINCT c.relname
FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_class f ON f.oid = k.confrelid
JOIN pg_namespace fn ON fn.oid = f.relnamespace
WHERE k.contype = 'f' AND fn.nspname = 'public' AND f.relname = ANY(%s)
  AND NOT (c.relnamespace = fn.oid AND c.relname = ANY(%s))
ORDER BY 1
"""


def read_schema(conn: psycopg.Connection[Any]) -> plan.Schema:
    """The tenant tables in load order (parents first) and the foreign keys between them."""
    names = [str(row[0]) for row in conn.execute(_TABLES).fetchall()]
    columns: dict[str, list[str]] = defaultdict(list)
    uuids: dict[str, set[str]] = defaultdict(set)
    for table, column, is_uuid in conn.execute(_COLUMNS, [names]).fetchall():
        columns[table].append(column)
        if is_uuid:
            uuids[table].add(column)
    keys: dict[str, set[str]] = defaultdict(set)
    primary: dict[str, tuple[str, ...]] = {}
    foreign: list[plan.ForeignKey] = []
    for table, kind, cols, referenced, referenced_cols in conn.execute(_CONSTRAINTS, [names]).fetchall():
        if kind == "f":
            if referenced in names:
                foreign.append(plan.ForeignKey(table, tuple(cols), referenced, tuple(referenced_cols)))
            continue
        keys[table].update(cols)
        if kind == "p":
            primary[table] = tuple(cols)
    order = plan.load_order(names, foreign)
    tables = tuple(
        plan.Table(
            name=name,
            columns=tuple(columns[name]),
            uuid_columns=frozenset(uuids[name]),
            key_columns=frozenset(keys[name]),
            primary_key=primary.get(name, ()),
        )
        for name in order
    )
    outside = tuple(str(r[0]) for r in conn.execute(_OUTSIDE, [names, names]).fetchall())
    return plan.Schema(tables=tables, foreign_keys=tuple(foreign), referenced_from=outside)


def schema_revision(conn: psycopg.Connection[Any]) -> str:
    rows = conn.execute("SELECT version_num FROM public.alembic_version").fetchall()
    if len(rows) != 1:
        raise ValueError(f"the database has {len(rows)} schema revisions, expected one")
    return str(rows[0][0])
