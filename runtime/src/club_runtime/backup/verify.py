"""Verify a backup by restoring it: into a scratch database made for the purpose (migrated to this
runtime's schema, dropped afterwards whatever happens), then checking it.

- every object matches the manifest while it loads (size, sha256 of the rows, row count), through
  the same path a real restore takes;
- the rows as the database now holds them, copied out again, give the manifest's sha256 and counts:
  what was restored is what was backed up;
- row-level security holds on them: as a role of the backed-up club, every row is visible and no
  other; as a role of another club, none is.

The restore's duration is measured (loading the rows, without creating and migrating the database).
The two roles exist for the check only (they can log in to the scratch database alone, with a
random password) and are dropped with it."""

from __future__ import annotations

import logging
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from club_runtime.backup import catalog, codec, errors, manifest, restore, store
from club_runtime.db import migrate, tenancy

log = logging.getLogger(__name__)


class VerifyFailed(RuntimeError):
    """The backup did not survive its restore; the message says which check failed."""


@dataclass(frozen=True)
class Verified:
    backup_id: str
    club_id: uuid.UUID
    restore_seconds: float
    rows: dict[str, int] = field(default_factory=dict)


def verify(admin_dsn: str, bucket: store.Store, club_id: uuid.UUID, backup_id: str) -> Verified:
    try:
        found = restore.read_manifest(bucket, club_id, backup_id)
        restore.check_revision(found.schema_revision, None)
    except restore.RestoreError as exc:
        raise VerifyFailed(str(exc)) from exc
    scratch = f"club_verify_{secrets.token_hex(6)}"
    roles = (f"{scratch}_own", f"{scratch}_other")
    scratch_dsn = psycopg.conninfo.make_conninfo(admin_dsn, dbname=scratch)
    try:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
        migrate.migrate(scratch_dsn)
        return _check(scratch_dsn, bucket, found, roles)
    except (restore.RestoreError, store.BackupStoreError) as exc:
        raise VerifyFailed(str(exc)) from exc
    except (psycopg.Error, migrate.MigrationError, tenancy.TenancyError) as exc:
        raise VerifyFailed(f"the scratch restore failed: {errors.describe(exc)}") from exc
    finally:
        _drop(admin_dsn, scratch, roles)


def _check(
    scratch_dsn: str, bucket: store.Store, found: manifest.Manifest, roles: tuple[str, str]
) -> Verified:
    started = time.monotonic()
    with psycopg.connect(scratch_dsn) as conn:
        schema = catalog.read_schema(conn)
        rows = restore.load_all(conn, bucket, found, schema, target=found.club_id, include_root=True)
    seconds = time.monotonic() - started
    with psycopg.connect(scratch_dsn) as conn:
        conn.execute("SET synchronize_seqscans = off")  # a scan from the table's start: the rows' order
        for entry in found.tables:
            _check_copy(conn, entry)
        slug_row = conn.execute(
            "SELECT slug FROM public.clubs WHERE club_id = %s", [found.club_id]
        ).fetchone()
    if slug_row is None:
        raise VerifyFailed(f"the backup holds no row of club {found.club_id} in clubs")
    own, other = roles
    own_dsn = _provision(scratch_dsn, found.club_id, str(slug_row[0]), own)
    other_dsn = _provision(scratch_dsn, uuid.uuid4(), f"{other}-slug", other)
    _check_visibility(own_dsn, found, own=True)
    _check_visibility(other_dsn, found, own=False)
    return Verified(backup_id=found.backup_id, club_id=found.club_id, restore_seconds=seconds, rows=rows)


def _check_copy(conn: psycopg.Connection[Any], entry: manifest.TableEntry) -> None:
    digest = codec.Digest()
    query = sql.SQL("COPY (SELECT {} FROM {}) TO STDOUT").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in entry.columns), sql.Identifier("public", entry.name)
    )
    chunk = bytearray()
    with conn.cursor().copy(query) as copy:
        for row in copy:
            chunk += row
            if len(chunk) >= 256 * 1024:
                digest.feed(chunk)
                chunk.clear()
    digest.feed(chunk)
    if digest.rows != entry.rows:
        raise VerifyFailed(f"table {entry.name}: {digest.rows} rows restored, the manifest says {entry.rows}")
    if digest.sha256 != entry.sha256:
        raise VerifyFailed(f"table {entry.name}: the restored rows differ from the backed-up ones (sha256)")


def _provision(scratch_dsn: str, club_id: uuid.UUID, slug: str, role: str) -> str:
    password = secrets.token_urlsafe(24)
    tenancy.provision_club(scratch_dsn, club_id, slug, role, password)
    return psycopg.conninfo.make_conninfo(scratch_dsn, user=role, password=password)


def _check_visibility(dsn: str, found: manifest.Manifest, *, own: bool) -> None:
    with psycopg.connect(dsn) as conn:
        for entry in found.tables:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {} WHERE club_id = %s").format(
                    sql.Identifier("public", entry.name)
                ),
                [found.club_id],
            ).fetchone()
            seen = int(row[0]) if row else -1
            if own and seen != entry.rows:
                raise VerifyFailed(
                    f"table {entry.name}: the club's own role sees {seen} of {entry.rows} rows"
                )
            if not own and seen != 0:
                raise VerifyFailed(
                    f"row-level security does not hold: another club's role sees {seen} rows of {entry.name}"
                )
        if own and not tenancy.probe_isolation_on(conn):
            raise VerifyFailed("row-level security does not hold for the club's own role (isolation probe)")


def _drop(admin_dsn: str, scratch: str, roles: tuple[str, ...]) -> None:
    try:
        with psycopg.connect(admin_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
            for role in roles:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    except psycopg.Error as exc:
        log.warning("dropping the scratch database %s failed: %s", scratch, exc.__class__.__name__)
