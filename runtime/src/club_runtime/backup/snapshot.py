"""Take a backup: one club's rows, every tenant table, in one read-only REPEATABLE READ transaction
(so the tables agree with each other as of one instant), each streamed with COPY through gzip into a
multipart upload, then the manifest. Two tables stream at once, on two connections sharing that
transaction's snapshot (`pg_export_snapshot`, `SET TRANSACTION SNAPSHOT`), each taking the next
table as it is free.

The snapshot is read as the club's own role (DATABASE_URL), in `shared` and `dedicated` isolation
alike: row-level security, not a filter in this code, decides what leaves the database, so a backup
can hold no other club's row even if this code were wrong, and the backup job needs no credential
that could read other clubs. The `club_id` filter each COPY also carries is a second guard (and keeps
a misconfigured admin DSN from dumping every club). The role must map to CLUB_ID, or nothing is read.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import secrets
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from club_runtime import contract
from club_runtime.backup import catalog, codec, errors, manifest, plan, store

log = logging.getLogger(__name__)

FEED_CHUNK = 256 * 1024
"""COPY hands over one row at a time: rows are gathered into chunks this size before hashing and
compressing (per-row calls into zlib and hashlib cost more than the work itself)."""


PIPELINE_DEPTH = 2


class BackupError(RuntimeError):
    """The backup could not be taken; no manifest was written."""


@dataclass(frozen=True)
class BackupRequest:
    club_id: uuid.UUID
    dsn: str
    backup_id: str
    compression_level: int = 6


def default_backup_id(now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> str:
    return manifest.new_backup_id(now(), secrets.token_hex(3))


def take(request: BackupRequest, bucket: store.Store) -> manifest.Manifest:
    """Back the club up into `bucket`; returns the manifest written (last)."""
    manifest_key = contract.backup_manifest(bucket.prefix, request.club_id, request.backup_id)
    if store.exists(bucket, manifest_key):
        raise store.BackupExists(f"backup {request.backup_id} of club {request.club_id} already exists")
    started = datetime.now(UTC)
    try:
        with (
            psycopg.connect(request.dsn, connect_timeout=10) as conn,
            ThreadPoolExecutor(max_workers=2, thread_name_prefix="backup-upload") as pool,
        ):
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            read = _snapshot(conn, request, bucket, pool)
            conn.rollback()  # read only: nothing to commit
    except psycopg.Error as exc:
        raise BackupError(f"reading the club's rows failed: {errors.describe(exc)}") from exc
    result = manifest.Manifest(
        backup_id=request.backup_id,
        club_id=request.club_id,
        schema_revision=read.revision,
        server_version=read.server_version,
        started_at=started,
        finished_at=datetime.now(UTC),
        tables=tuple(read.tables),
    )
    store.put_manifest(bucket, manifest_key, result.to_json())
    return result


@dataclass(frozen=True)
class _Read:
    tables: list[manifest.TableEntry]
    revision: str
    server_version: int


def _snapshot(
    conn: psycopg.Connection[Any], request: BackupRequest, bucket: store.Store, pool: ThreadPoolExecutor
) -> _Read:
    # The role's statement_timeout (a guard for the API's queries) would cut a large table's COPY.
    conn.execute("SET LOCAL statement_timeout = 0")
    own = conn.execute("SELECT public.current_club_id()").fetchone()
    if own is None or own[0] != request.club_id:
        mapped = "no club" if own is None or own[0] is None else f"club {own[0]}"
        raise BackupError(
            f"DATABASE_URL logs in as a role of {mapped}, not of club {request.club_id}: "
            "a backup reads as the club's own role"
        )
    revision = catalog.schema_revision(conn)
    schema = catalog.read_schema(conn)
    with contextlib.ExitStack() as stack:
        conns = [conn]
        second = _second_reader(conn, request) if len(schema.tables) > 1 else None
        if second is not None:
            conns.append(stack.enter_context(second))
        entries = _copy_tables(conns, request, bucket, pool, schema.tables)
    return _Read(entries, revision, conn.info.server_version)


def _second_reader(conn: psycopg.Connection[Any], request: BackupRequest) -> psycopg.Connection[Any] | None:
    """A second connection reading the same snapshot (`pg_export_snapshot`), so that two tables
    stream at once (PostgreSQL's work for a COPY runs in the connection's own server process), or
    None where the role may not open one more (its connection limit): the backup then reads on one."""
    exported = conn.execute("SELECT pg_export_snapshot()").fetchone()
    if exported is None:
        return None
    try:
        second = psycopg.connect(request.dsn, connect_timeout=10)
    except psycopg.OperationalError as exc:
        log.info("backing up on one connection: a second failed (%s)", errors.describe(exc))
        return None
    try:
        second.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        second.read_only = True
        second.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(exported[0])))
        second.execute("SET LOCAL statement_timeout = 0")
    except psycopg.Error:
        second.close()
        raise
    return second


def _copy_tables(
    conns: list[psycopg.Connection[Any]],
    request: BackupRequest,
    bucket: store.Store,
    uploads: ThreadPoolExecutor,
    tables: tuple[plan.Table, ...],
) -> list[manifest.TableEntry]:
    """Every table, each connection taking the next one in order as it is free; the entries in the
    tables' order (the manifest's, which a restore loads in)."""
    queue = collections.deque(tables)
    done: dict[str, manifest.TableEntry] = {}
    failed = threading.Event()

    def worker(conn: psycopg.Connection[Any]) -> None:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-gzip") as compressor:
            job = _Job(conn, request, bucket, uploads, compressor)
            while not failed.is_set():
                try:
                    table = queue.popleft()
                except IndexError:
                    return
                try:
                    done[table.name] = _copy_table(job, table)
                except BaseException:
                    failed.set()
                    raise

    with ThreadPoolExecutor(max_workers=len(conns), thread_name_prefix="backup-read") as readers:
        futures = [readers.submit(worker, c) for c in conns]
    for future in futures:
        future.result()
    return [done[t.name] for t in tables]


@dataclass(frozen=True)
class _Job:
    conn: psycopg.Connection[Any]
    request: BackupRequest
    bucket: store.Store
    uploads: ThreadPoolExecutor
    compressor: ThreadPoolExecutor


def _copy_table(job: _Job, table: plan.Table) -> manifest.TableEntry:
    conn, request, bucket = job.conn, job.request, job.bucket
    key = contract.backup_table(bucket.prefix, request.club_id, request.backup_id, table.name)
    query = sql.SQL("COPY (SELECT {} FROM {} WHERE club_id = {}) TO STDOUT").format(
        sql.SQL(", ").join(sql.Identifier(c) for c in table.columns),
        sql.Identifier("public", table.name),
        sql.Literal(request.club_id),
    )
    encoder = codec.Encoder(request.compression_level)
    chunk = bytearray()
    with (
        store.ObjectWriter(bucket, key, pool=job.uploads) as writer,
        _Pipeline(encoder, writer, job.compressor) as pipeline,
    ):
        with conn.cursor().copy(query) as copy:
            for row in copy:
                chunk += row
                if len(chunk) >= FEED_CHUNK:
                    pipeline.feed(bytes(chunk))
                    chunk.clear()
        pipeline.feed(bytes(chunk))
        pipeline.drain()
        writer.write(encoder.finish())
        writer.close()
    log.info("backed up %s: %d rows, %d bytes compressed", table.name, encoder.rows, writer.size)
    return manifest.TableEntry(
        name=table.name,
        key=key,
        columns=table.columns,
        rows=encoder.rows,
        sha256=encoder.sha256,
        compressed_bytes=writer.size,
    )


class _Pipeline:
    """Hashing and compressing on a thread of their own (zlib and hashlib let go of the GIL), in
    order, while this thread reads the next rows: at most PIPELINE_DEPTH chunks wait."""

    def __init__(
        self, encoder: codec.Encoder, writer: store.ObjectWriter, compressor: ThreadPoolExecutor
    ) -> None:
        self._encoder = encoder
        self._writer = writer
        self._compressor = compressor
        self._pending: collections.deque[Future[bytes]] = collections.deque()

    def __enter__(self) -> _Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        for future in self._pending:
            future.cancel()
        for future in self._pending:
            if not future.cancelled():
                future.exception()

    def feed(self, chunk: bytes) -> None:
        if len(self._pending) >= PIPELINE_DEPTH:
            self._writer.write(self._pending.popleft().result())
        self._pending.append(self._compressor.submit(self._encoder.feed, chunk))

    def drain(self) -> None:
        while self._pending:
            self._writer.write(self._pending.popleft().result())
