"""Restore a backup into a club's tenant: its own (a rollback) or another, already provisioned one
(a clone: a new club started from the backup).

Either way, in one transaction on the club's database as its admin: the target club's rows in every
tenant table are replaced by the backup's, each table streamed from the bucket through gzip into
COPY. How depends on what else the tables hold (`_replace`): a club alone in its database has its
tables emptied and loaded with their indexes set aside (rebuild.py), a rollback in a shared database
rewrites only the rows that differ (delta.py), anything else deletes the club's rows (children
first) and loads the backup's (parents first). Nothing else is touched: every statement is limited
to the target's `club_id` (COPY ... WHERE drops any row of another club, and a count that then falls
short of the manifest's fails the restore), so other clubs of a shared database keep every row.
Each table's stream is checked against the manifest (size, sha256, rows) before the transaction
commits: a corrupted object rolls everything back.

The club's own row in `clubs` (its identity: id, slug, name, which the operator provisions) stays
as it is; the target must be provisioned first. Into another club, `club_id` becomes the target's
and every key uuid is remapped (plan.py): the clone shares no row id with the original.

A backup's schema revision must be the database's or an earlier one: a newer schema (a revision
this runtime's migrations do not know) is refused, and so is a database not yet migrated to the
backup's revision."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from club_runtime import contract
from club_runtime.backup import catalog, codec, delta, errors, manifest, plan, rebuild, store
from club_runtime.db import migrate

log = logging.getLogger(__name__)


class RestoreError(RuntimeError):
    """The backup cannot be restored here; nothing was changed."""


class CorruptBackup(RestoreError):
    """An object of the backup does not match its manifest."""


@dataclass(frozen=True)
class RestoreRequest:
    admin_dsn: str
    source_club: uuid.UUID
    target_club: uuid.UUID
    backup_id: str


@dataclass(frozen=True)
class Loaded:
    rows: dict[str, int]
    seconds: float


def read_manifest(bucket: store.Store, club_id: uuid.UUID, backup_id: str) -> manifest.Manifest:
    key = contract.backup_manifest(bucket.prefix, club_id, backup_id)
    try:
        raw = store.get_bytes(bucket, key)
    except store.BackupMissing as exc:
        raise RestoreError(
            f"no complete backup {backup_id} of club {club_id} (no {key}; an unfinished backup has none)"
        ) from exc
    try:
        found = manifest.parse(raw)
    except manifest.ManifestError as exc:
        raise CorruptBackup(str(exc)) from exc
    if found.club_id != club_id or found.backup_id != backup_id:
        raise CorruptBackup(f"{key} describes backup {found.backup_id} of club {found.club_id}")
    return found


def check_revision(backup_revision: str, database_revision: str | None) -> None:
    """Refuse a backup whose schema is newer than this runtime's, or than the database's."""
    if migrate.lineage(backup_revision) is None:
        heads = ", ".join(sorted(migrate.head_revisions()))
        raise RestoreError(
            f"the backup's schema revision {backup_revision} is newer than this runtime's ({heads}): "
            "restore it with a runtime that has that migration"
        )
    if database_revision is None:
        return
    lineage = migrate.lineage(database_revision)
    if lineage is None or backup_revision not in lineage:
        raise RestoreError(
            f"the backup's schema revision {backup_revision} is not in the database's history "
            f"(at {database_revision}): migrate the database first"
        )


def restore(request: RestoreRequest, bucket: store.Store) -> Loaded:
    """Replace the target club's rows with the backup's, in one transaction."""
    found = read_manifest(bucket, request.source_club, request.backup_id)
    check_revision(found.schema_revision, None)
    started = time.monotonic()
    try:
        with psycopg.connect(request.admin_dsn, connect_timeout=10) as conn:
            conn.execute("SET LOCAL statement_timeout = 0")
            check_revision(found.schema_revision, catalog.schema_revision(conn))
            schema = catalog.read_schema(conn)
            _lock_target(conn, schema, request.target_club)
            rows = _replace(conn, bucket, found, schema, request.target_club)
    except psycopg.Error as exc:
        raise RestoreError(f"restoring failed: {errors.describe(exc)}") from exc
    return Loaded(rows=rows, seconds=time.monotonic() - started)


def _replace(
    conn: psycopg.Connection[Any],
    bucket: store.Store,
    found: manifest.Manifest,
    schema: plan.Schema,
    target: uuid.UUID,
) -> dict[str, int]:
    """The club's rows out, the backup's in, by the cheapest way that gives exactly the backup:
    - the database holds no other club (`dedicated`): its tables are emptied and loaded as
      pg_restore loads (rebuild.py);
    - a rollback in a shared database, of a backup with the tables' columns: only the rows that
      differ are rewritten (delta.py);
    - otherwise (a clone into a shared database, or without the rights to skip row-by-row
      foreign key checks): every row of the club deleted, every row of the backup loaded."""
    bulk = begin_bulk(conn, schema)
    tenant = [t for t in schema.tables if not t.is_root]
    if bulk and _alone(conn, schema, target):
        rebuild.lock(conn, [t.name for t in schema.tables])
        if _alone(conn, schema, target):
            conn.execute(
                sql.SQL("TRUNCATE {}").format(
                    sql.SQL(", ").join(sql.Identifier("public", t.name) for t in tenant)
                )
            )
            rows, validated = _load(conn, bucket, found, schema, target=target, include_root=False)
            if not validated:
                check_foreign_keys(conn, schema, target)
            return rows
    if bulk and target == found.club_id and _same_columns(found, tenant):
        return _rollback(conn, bucket, found, schema, target)
    for table in reversed(tenant):
        conn.execute(
            sql.SQL("DELETE FROM {} WHERE club_id = %s").format(sql.Identifier("public", table.name)),
            [target],
        )
    rows = load(conn, bucket, found, schema, target=target, include_root=False)
    if bulk:
        check_foreign_keys(conn, schema, target)
    return rows


def _same_columns(found: manifest.Manifest, tables: list[plan.Table]) -> bool:
    """The backup has every column the tables have now (a backup from before a migration that
    added one has not: a full load gives the new column its default)."""
    return all(
        entry is None or set(entry.columns) == set(table.columns)
        for table in tables
        for entry in [found.table(table.name)]
    )


def _alone(conn: psycopg.Connection[Any], schema: plan.Schema, club: uuid.UUID) -> bool:
    """The database holds no club but this one (every tenant row's club_id references the root)."""
    root = next(t for t in schema.tables if t.is_root)
    row = conn.execute(
        sql.SQL("SELECT EXISTS (SELECT 1 FROM {} WHERE club_id <> %s)").format(
            sql.Identifier("public", root.name)
        ),
        [club],
    ).fetchone()
    return row is not None and not row[0]


def _rollback(
    conn: psycopg.Connection[Any],
    bucket: store.Store,
    found: manifest.Manifest,
    schema: plan.Schema,
    club: uuid.UUID,
) -> dict[str, int]:
    _check_tables(found, schema)

    def load_into(entry: manifest.TableEntry, staging: sql.Identifier) -> int:
        return _load_table(conn, bucket, entry, club, None, into=staging)

    done = delta.rollback(conn, schema, found, club, load_into)
    # A foreign key that held before holds still unless rows were added on its side or removed
    # from the side it references.
    touched = [
        fk for fk in schema.foreign_keys if done.inserted.get(fk.table) or done.deleted.get(fk.references)
    ]
    check_foreign_keys(conn, schema, club, touched)
    return done.rows


def _lock_target(conn: psycopg.Connection[Any], schema: plan.Schema, club: uuid.UUID) -> None:
    roots = [t for t in schema.tables if t.is_root]
    if len(roots) != 1:
        raise RestoreError(f"the schema has {len(roots)} tables keyed by club_id alone, expected one (clubs)")
    found = conn.execute(
        sql.SQL("SELECT 1 FROM {} WHERE club_id = %s FOR UPDATE").format(
            sql.Identifier("public", roots[0].name)
        ),
        [club],
    ).fetchone()
    if found is None:
        raise RestoreError(f"club {club} is not provisioned in this database: provision it, then restore")


def begin_bulk(conn: psycopg.Connection[Any], schema: plan.Schema) -> bool:
    """Where the admin may, skip foreign keys' row-by-row checks and actions for this transaction
    (`session_replication_role = replica`, as `pg_restore --disable-triggers` does); the caller then
    checks every foreign key of the club's rows in bulk (`check_foreign_keys`) before committing.
    Safe because a restore deletes the club's rows from every tenant table itself (no cascade is
    needed), nothing outside the tenant tables references them and every foreign key between them
    includes `club_id`, so checking the club's own rows covers every reference to them (else this
    returns False and the checks stay on).
    Row-by-row checks cost more than the load itself: a restore's foreign key triggers took about
    two thirds of its time."""
    superuser = conn.execute("SELECT current_setting('is_superuser') = 'on'").fetchone()
    if not (superuser and superuser[0]) or schema.referenced_from:
        return False
    if any(plan.CLUB_COLUMN not in fk.columns for fk in schema.foreign_keys):
        return False
    conn.execute("SET LOCAL session_replication_role = replica")
    return True


def check_foreign_keys(
    conn: psycopg.Connection[Any],
    schema: plan.Schema,
    club: uuid.UUID,
    only: Sequence[plan.ForeignKey] | None = None,
) -> None:
    """Every foreign key of the club's rows (or those of `only`) finds its row: one anti-join per
    foreign key (what PostgreSQL runs to validate a new constraint), limited to the club's rows."""
    for fk in schema.foreign_keys if only is None else only:
        child = sql.Identifier("c")
        parent = sql.Identifier("p")
        query = sql.SQL(
            "SELECT count(*) FROM {table} c WHERE c.club_id = %s AND {not_null} "
            "AND NOT EXISTS (SELECT 1 FROM {parent_table} p WHERE {match})"
        ).format(
            table=sql.Identifier("public", fk.table),
            not_null=sql.SQL(" AND ").join(
                sql.SQL("{} IS NOT NULL").format(sql.Identifier("c", col)) for col in fk.columns
            ),
            parent_table=sql.Identifier("public", fk.references),
            match=sql.SQL(" AND ").join(
                sql.SQL("{}.{} = {}.{}").format(parent, sql.Identifier(ref), child, sql.Identifier(col))
                for col, ref in zip(fk.columns, fk.referenced_columns, strict=True)
            ),
        )
        row = conn.execute(query, [club]).fetchone()
        if row and row[0]:
            raise CorruptBackup(
                f"table {fk.table}: {row[0]} rows reference rows of {fk.references} that the backup lacks "
                f"(foreign key {', '.join(fk.columns)})"
            )


def load_all(
    conn: psycopg.Connection[Any],
    bucket: store.Store,
    found: manifest.Manifest,
    schema: plan.Schema,
    *,
    target: uuid.UUID,
    include_root: bool,
) -> dict[str, int]:
    """`load` with foreign keys checked in bulk where the admin may (`begin_bulk`)."""
    bulk = begin_bulk(conn, schema)
    rows, validated = _load(conn, bucket, found, schema, target=target, include_root=include_root)
    if bulk and not validated:
        check_foreign_keys(conn, schema, target)
    return rows


def load(
    conn: psycopg.Connection[Any],
    bucket: store.Store,
    found: manifest.Manifest,
    schema: plan.Schema,
    *,
    target: uuid.UUID,
    include_root: bool,
) -> dict[str, int]:
    """Load every table of the backup into `target`'s rows (parents first), checking each stream
    against the manifest; returns the rows loaded per table. The caller owns the transaction.
    Into empty tables with row-by-row checks off, as pg_restore does (rebuild.py)."""
    return _load(conn, bucket, found, schema, target=target, include_root=include_root)[0]


def _load(
    conn: psycopg.Connection[Any],
    bucket: store.Store,
    found: manifest.Manifest,
    schema: plan.Schema,
    *,
    target: uuid.UUID,
    include_root: bool,
) -> tuple[dict[str, int], bool]:
    """The rows loaded per table, and whether every foreign key of the loaded tables was validated
    on the way (by building it again)."""
    _check_tables(found, schema)
    remapped = plan.remapped_columns(schema) if target != found.club_id else {}
    tables = [
        (t, entry)
        for t in schema.tables
        if (entry := found.table(t.name)) is not None and (include_root or not t.is_root)
    ]
    names = [t.name for t, _ in tables]
    aside = None
    if _bulk_on(conn) and rebuild.is_empty(conn, names):
        rebuild.lock(conn, names)
        if rebuild.is_empty(conn, names):
            aside = rebuild.prepare(conn, names)
            if aside is not None:
                rebuild.truncate(conn, names)
    rows: dict[str, int] = {}
    for table, entry in tables:
        rewriter = None
        if target != found.club_id:
            rewriter = plan.LineRewriter(
                plan.RowRewriter.for_columns(target, entry.columns, remapped.get(table.name, frozenset()))
            )
        rows[table.name] = _load_table(conn, bucket, entry, target, rewriter, freeze=aside is not None)
    if aside is not None:
        try:
            rebuild.restore_indexes(conn, aside)
        except rebuild.DanglingReference as exc:
            raise CorruptBackup(str(exc)) from exc
    return rows, aside is not None


def _check_tables(found: manifest.Manifest, schema: plan.Schema) -> None:
    missing = [t.name for t in found.tables if t.name not in schema.names]
    if missing:
        raise RestoreError(
            f"the database has no tenant table {', '.join(missing)}: a schema this runtime lost"
        )


def _bulk_on(conn: psycopg.Connection[Any]) -> bool:
    row = conn.execute("SELECT current_setting('session_replication_role') = 'replica'").fetchone()
    return bool(row and row[0])


def _load_table(
    conn: psycopg.Connection[Any],
    bucket: store.Store,
    entry: manifest.TableEntry,
    target: uuid.UUID,
    rewriter: plan.LineRewriter | None,
    *,
    into: sql.Identifier | None = None,
    freeze: bool = False,
) -> int:
    size = store.size_of(bucket, entry.key)
    if size != entry.compressed_bytes:
        raise CorruptBackup(
            f"table {entry.name}: the object has {size} bytes, the manifest says {entry.compressed_bytes}"
        )
    decoder = codec.Decoder()
    query = sql.SQL("COPY {} ({}) FROM STDIN {} WHERE club_id = {}").format(
        into or sql.Identifier("public", entry.name),
        sql.SQL(", ").join(sql.Identifier(c) for c in entry.columns),
        sql.SQL("WITH (FREEZE)" if freeze else ""),
        sql.Literal(target),
    )
    with conn.cursor() as cur:
        try:
            with cur.copy(query) as copy:
                for piece in codec.prefetched(
                    _pieces(store.read_chunks(bucket, entry.key), decoder, rewriter)
                ):
                    copy.write(piece)
        except (codec.CorruptData, ValueError) as exc:
            raise CorruptBackup(f"table {entry.name}: {exc}") from exc
        loaded = cur.rowcount
    if decoder.sha256 != entry.sha256:
        raise CorruptBackup(f"table {entry.name}: sha256 {decoder.sha256} differs from the manifest's")
    if decoder.rows != entry.rows:
        raise CorruptBackup(f"table {entry.name}: {decoder.rows} rows, the manifest says {entry.rows}")
    if loaded != entry.rows:
        raise CorruptBackup(
            f"table {entry.name}: {entry.rows - loaded} of its rows belong to another club: refused"
        )
    log.info("restored %s: %d rows", entry.name, loaded)
    return loaded


def _pieces(
    chunks: Iterator[bytes], decoder: codec.Decoder, rewriter: plan.LineRewriter | None
) -> Iterator[bytes]:
    for piece in codec.decode_all(chunks, decoder):
        yield rewriter.feed(piece) if rewriter else piece
    if rewriter:
        rewriter.finish()
