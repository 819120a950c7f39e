"""Backups of one club in a shared database, on the stack's PostgreSQL and MinIO: a round trip gives
back exactly the backed-up rows and leaves the other club's rows as they were; a clone gets its own
ids; verify catches a corrupted object; a newer schema is refused; a backup killed half-way leaves no
manifest."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql
from pydantic import SecretStr

from club_devstack.stack import StackInfo
from club_runtime import contract
from club_runtime.backup import codec, manifest, restore, snapshot, store, verify
from club_runtime.settings import Settings
from tests.integration.runtime.conftest import provision, seed

ODD_TEXT = "tab\there, newline\nthere, back\\slash, quote ' \" and ünïcødé"


@dataclass
class Tenant:
    club_id: str
    role_name: str
    dsn: str
    users: dict[Any, uuid.UUID]
    player_id: uuid.UUID | None = None


@pytest.fixture
def make_tenant(stack: StackInfo, database: str) -> Callable[[str], Tenant]:
    from club_runtime.db import migrate

    migrate.migrate(database)

    def make(slug: str, *, seeded: bool = True) -> Tenant:
        club_id, role, dsn = provision(stack, database, slug)
        tenant = Tenant(club_id=club_id, role_name=role, dsn=dsn, users={})
        if seeded:
            seed(tenant)  # type: ignore[arg-type]
            with psycopg.connect(dsn) as conn:
                conn.execute(
                    "INSERT INTO players (first_name, last_name, position, preferred_foot, birth_date, "
                    "guardian_name) VALUES ('Odd', %s, 'MF', 'both', '2008-02-29', NULL), "
                    "('Even', 'Plain', 'FW', 'right', '2007-01-01', %s)",
                    [ODD_TEXT, ODD_TEXT],
                )
        return tenant

    return make


@pytest.fixture
def settings_for(stack: StackInfo, database: str, bucket: str) -> Callable[..., Settings]:
    def settings(tenant: Tenant, **extra: Any) -> Settings:
        values: dict[str, Any] = {
            "club_id": tenant.club_id,
            "database_url": SecretStr(tenant.dsn),
            "database_admin_url": SecretStr(database),
            "backup_s3_endpoint_url": stack.minio.endpoint,
            "backup_s3_bucket": bucket,
            "backup_s3_prefix": "backups/",
            "backup_s3_access_key_id": SecretStr(stack.minio.access_key),
            "backup_s3_secret_access_key": SecretStr(stack.minio.secret_key),
        }
        return Settings(**(values | extra))

    return settings


def fingerprint(admin_dsn: str, club_id: str) -> dict[str, tuple[int, str]]:
    """Every tenant table's rows of the club, as the superuser reads them: count and a digest."""
    with psycopg.connect(admin_dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace "
                "AND relkind = 'r' AND relrowsecurity ORDER BY relname"
            ).fetchall()
        ]
        result = {}
        for t in tables:
            row = conn.execute(
                sql.SQL(
                    "SELECT count(*), md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) "
                    "FROM {} x WHERE club_id = %s"
                ).format(sql.Identifier("public", t)),
                [club_id],
            ).fetchone()
            assert row is not None
            result[t] = (row[0], row[1])
        return result


def take(settings: Settings, backup_id: str | None = None) -> manifest.Manifest:
    request = snapshot.BackupRequest(
        club_id=uuid.UUID(settings.club_id),
        dsn=settings.database_url.get_secret_value(),
        backup_id=backup_id or snapshot.default_backup_id(),
    )
    return snapshot.take(request, store.connect(settings))


def restore_into(settings: Settings, source: str, backup_id: str) -> restore.Loaded:
    request = restore.RestoreRequest(
        admin_dsn=settings.database_admin_url.get_secret_value(),
        source_club=uuid.UUID(source),
        target_club=uuid.UUID(settings.club_id),
        backup_id=backup_id,
    )
    return restore.restore(request, store.connect(settings))


def change(tenant: Tenant) -> None:
    with psycopg.connect(tenant.dsn) as conn:
        conn.execute("UPDATE players SET last_name = 'Changed' WHERE first_name = 'Ada'")
        conn.execute("DELETE FROM players WHERE first_name = 'Even'")
        conn.execute("DELETE FROM injuries")
        conn.execute(
            "INSERT INTO players (first_name, last_name, position, preferred_foot, birth_date) "
            "VALUES ('New', 'Signing', 'DF', 'left', '2001-01-01')"
        )


def test_round_trip_restores_exactly_the_backup_and_leaves_other_clubs(
    make_tenant: Callable[..., Tenant], settings_for: Callable[..., Settings], database: str
) -> None:
    a, b = make_tenant("a"), make_tenant("b")
    before_a, before_b = fingerprint(database, a.club_id), fingerprint(database, b.club_id)
    settings = settings_for(a)

    taken = take(settings)

    assert taken.club_id == uuid.UUID(a.club_id)
    assert {t.name: t.rows for t in taken.tables} == {t: n for t, (n, _) in before_a.items()}
    assert taken.tables[0].name == "clubs"
    change(a)
    assert fingerprint(database, a.club_id) != before_a

    loaded = restore_into(settings, a.club_id, taken.backup_id)

    assert fingerprint(database, a.club_id) == before_a
    assert fingerprint(database, b.club_id) == before_b
    assert loaded.rows["players"] == before_a["players"][0]


def test_a_rollback_in_a_shared_database_gives_back_exactly_the_backed_up_rows(
    make_tenant: Callable[..., Tenant], settings_for: Callable[..., Settings], database: str
) -> None:
    """The rollback that rewrites only the rows that differ: two accounts that swapped their
    (unique) emails, a value equal by `=` but written differently (numeric 7.5 and 7.50), a changed
    parent whose children did not change, a deleted child: all back as they were."""
    a, b = make_tenant("a"), make_tenant("b")
    with psycopg.connect(a.dsn) as conn:
        conn.execute("UPDATE wellness_entries SET hrv_ms = 7.5")
    before_a, before_b = fingerprint(database, a.club_id), fingerprint(database, b.club_id)
    settings = settings_for(a)
    taken = take(settings)
    with psycopg.connect(a.dsn) as conn:
        conn.execute("UPDATE users SET email = 'swap@club.test' WHERE email = 'owner@club.test'")
        conn.execute("UPDATE users SET email = 'owner@club.test' WHERE email = 'coach@club.test'")
        conn.execute("UPDATE users SET email = 'coach@club.test' WHERE email = 'swap@club.test'")
        conn.execute("UPDATE wellness_entries SET hrv_ms = 7.50")
        conn.execute("UPDATE teams SET name = 'Renamed'")
        conn.execute("DELETE FROM attendance")
    assert fingerprint(database, a.club_id) != before_a

    restore_into(settings, a.club_id, taken.backup_id)

    assert fingerprint(database, a.club_id) == before_a
    assert fingerprint(database, b.club_id) == before_b


def test_cli_backup_then_restore(
    make_tenant: Callable[..., Tenant], settings_for: Callable[..., Settings], database: str, bucket: str
) -> None:
    a = make_tenant("a")
    before = fingerprint(database, a.club_id)
    schema_before = _keys_and_indexes(database)
    env = _env(settings_for(a)) | {"BACKUP_ID": "nightly-1"}

    done = _cli(["backup"], env)
    change(a)
    again = _cli(["backup"], env)
    back = _cli(["restore"], env)

    assert done.returncode == 0, done.stderr
    assert '"backupId": "nightly-1"' in done.stdout
    assert again.returncode == 1
    assert "already exists" in again.stderr
    assert back.returncode == 0, back.stderr
    assert fingerprint(database, a.club_id) == before
    # The club is alone in its database: its tables were emptied and loaded with their keys,
    # indexes and foreign keys set aside and built again, each as it was.
    assert _keys_and_indexes(database) == schema_before


def test_clone_into_a_new_club_gets_its_own_ids(
    make_tenant: Callable[..., Tenant], settings_for: Callable[..., Settings], database: str
) -> None:
    a, b = make_tenant("a"), make_tenant("b")
    clone = make_tenant("clone", seeded=False)
    before_a, before_b = fingerprint(database, a.club_id), fingerprint(database, b.club_id)
    taken = take(settings_for(a))

    loaded = restore_into(settings_for(clone), a.club_id, taken.backup_id)

    after = fingerprint(database, clone.club_id)
    assert {t: n for t, (n, _) in after.items() if t != "clubs"} == {
        t: n for t, (n, _) in before_a.items() if t != "clubs"
    }
    assert loaded.rows == {t.name: t.rows for t in taken.tables if t.name != "clubs"}
    with psycopg.connect(clone.dsn) as conn:
        names = conn.execute("SELECT first_name, last_name, guardian_name FROM players ORDER BY 1").fetchall()
        ids = {r[0] for r in conn.execute("SELECT id FROM players").fetchall()}
        linked = conn.execute(
            "SELECT count(*) FROM users u JOIN players p ON p.id = u.player_id WHERE u.player_id IS NOT NULL"
        ).fetchone()
    with psycopg.connect(a.dsn) as conn:
        original = conn.execute(
            "SELECT first_name, last_name, guardian_name FROM players ORDER BY 1"
        ).fetchall()
        original_ids = {r[0] for r in conn.execute("SELECT id FROM players").fetchall()}
    assert names == original
    assert ids.isdisjoint(original_ids)
    assert linked == (2,)  # the player and parent accounts still point at the (remapped) player
    assert fingerprint(database, a.club_id) == before_a
    assert fingerprint(database, b.club_id) == before_b


@pytest.fixture
def dedicated_database(stack: StackInfo) -> Iterator[str]:
    """A second migrated database, for a club alone in it."""
    from club_runtime.db import migrate

    name = f"t_dedicated_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        migrate.migrate(stack.postgres.dsn(name))
        yield stack.postgres.dsn(name)
    finally:
        with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def test_a_clone_alone_in_its_database_gets_its_own_ids_and_every_index(
    stack: StackInfo,
    make_tenant: Callable[..., Tenant],
    settings_for: Callable[..., Settings],
    database: str,
    dedicated_database: str,
) -> None:
    """Into a database of its own (`dedicated`), a clone's tables are loaded as pg_restore loads,
    with the ids remapped on the way, and every key, index and foreign key is there afterwards."""
    a = make_tenant("a")
    schema_before = _keys_and_indexes(dedicated_database)
    taken = take(settings_for(a))
    club_id, role, dsn = provision(stack, dedicated_database, "clone")
    clone = Tenant(club_id=club_id, role_name=role, dsn=dsn, users={})

    restore_into(
        settings_for(clone, database_admin_url=SecretStr(dedicated_database)), a.club_id, taken.backup_id
    )

    after = fingerprint(dedicated_database, clone.club_id)
    before = fingerprint(database, a.club_id)
    assert {t: n for t, (n, _) in after.items() if t != "clubs"} == {
        t: n for t, (n, _) in before.items() if t != "clubs"
    }
    with psycopg.connect(clone.dsn) as conn:
        ids = {r[0] for r in conn.execute("SELECT id FROM players").fetchall()}
        linked = conn.execute(
            "SELECT count(*) FROM users u JOIN players p ON p.id = u.player_id WHERE u.player_id IS NOT NULL"
        ).fetchone()
    with psycopg.connect(a.dsn) as conn:
        original_ids = {r[0] for r in conn.execute("SELECT id FROM players").fetchall()}
    assert ids
    assert ids.isdisjoint(original_ids)
    assert linked == (2,)
    assert _keys_and_indexes(dedicated_database) == schema_before


def test_verify_passes_then_catches_a_corrupted_object(
    make_tenant: Callable[..., Tenant],
    settings_for: Callable[..., Settings],
    database: str,
    s3: Any,
    bucket: str,
) -> None:
    a, _ = make_tenant("a"), make_tenant("b")
    settings = settings_for(a)
    taken = take(settings)
    bucket_store = store.connect(settings)

    result = verify.verify(database, bucket_store, uuid.UUID(a.club_id), taken.backup_id)

    assert result.rows == {t.name: t.rows for t in taken.tables}
    assert result.restore_seconds > 0
    players = taken.table("players")
    assert players is not None
    body = bytearray(s3.get_object(Bucket=bucket, Key=players.key)["Body"].read())
    body[len(body) // 2] ^= 0xFF
    s3.put_object(Bucket=bucket, Key=players.key, Body=bytes(body))
    before = fingerprint(database, a.club_id)
    change(a)
    changed = fingerprint(database, a.club_id)

    with pytest.raises(verify.VerifyFailed, match="table players"):
        verify.verify(database, bucket_store, uuid.UUID(a.club_id), taken.backup_id)
    with pytest.raises(restore.CorruptBackup, match="table players"):
        restore_into(settings, a.club_id, taken.backup_id)
    assert fingerprint(database, a.club_id) == changed != before
    assert not _scratch_databases(database)


def test_a_newer_schema_is_refused(
    make_tenant: Callable[..., Tenant],
    settings_for: Callable[..., Settings],
    database: str,
    s3: Any,
    bucket: str,
) -> None:
    a = make_tenant("a")
    settings = settings_for(a)
    taken = take(settings)
    key = contract.backup_manifest("backups/", a.club_id, taken.backup_id)
    newer = taken.model_copy(update={"schema_revision": "9999"})
    s3.put_object(Bucket=bucket, Key=key, Body=newer.to_json())

    with pytest.raises(restore.RestoreError, match="9999 is newer than this runtime's"):
        restore_into(settings, a.club_id, taken.backup_id)
    with pytest.raises(verify.VerifyFailed, match="newer"):
        verify.verify(database, store.connect(settings), uuid.UUID(a.club_id), taken.backup_id)


def test_a_backup_killed_half_way_leaves_no_manifest(
    make_tenant: Callable[..., Tenant],
    settings_for: Callable[..., Settings],
    database: str,
    s3: Any,
    bucket: str,
) -> None:
    a = make_tenant("a")
    settings = settings_for(a)
    env = _env(settings) | {"BACKUP_ID": "killed"}
    with psycopg.connect(database) as blocker:
        # The backup copies tables in order; holding one locked stops it there, half-way, with the
        # tables before it uploaded.
        blocker.execute("LOCK TABLE public.videos IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen(
            [sys.executable, "-m", "club_runtime", "backup"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            _wait_for(lambda: _waiting_on_lock(database, a.role_name), "the backup to reach the locked table")
            uploaded = _keys(s3, bucket, "backups/")
            proc.kill()
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert any(k.endswith("/clubs.copy.gz") for k in uploaded)
    assert not any(k.endswith(contract.BACKUP_MANIFEST_NAME) for k in _keys(s3, bucket, "backups/"))
    with pytest.raises(restore.RestoreError, match="no complete backup killed"):
        restore_into(settings, a.club_id, "killed")


def test_a_backup_reads_every_table_as_of_one_instant(
    make_tenant: Callable[..., Tenant], settings_for: Callable[..., Settings], database: str
) -> None:
    """The tables stream on two connections that share one snapshot: rows committed while the
    backup runs are in none of its tables."""
    a = make_tenant("a")
    before = fingerprint(database, a.club_id)
    env = _env(settings_for(a)) | {"BACKUP_ID": "instant"}
    with psycopg.connect(database) as blocker:
        blocker.execute("LOCK TABLE public.wellness_entries IN ACCESS EXCLUSIVE MODE")
        proc = subprocess.Popen(
            [sys.executable, "-m", "club_runtime", "backup"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_for(lambda: _waiting_on_lock(database, a.role_name), "the backup to reach the locked table")
            sessions = _sessions(database, a.role_name)
            blocker.execute(
                "INSERT INTO public.wellness_entries (club_id, player_id, day, sleep_quality, fatigue, "
                "soreness, stress, mood) VALUES (%s, %s, '2024-09-03', 1, 1, 1, 1, 1)",
                [a.club_id, a.player_id],
            )
            blocker.execute("DELETE FROM public.videos WHERE club_id = %s", [a.club_id])
        except BaseException:
            proc.kill()
            raise
    out, err = proc.communicate(timeout=120)

    assert proc.returncode == 0, err
    assert sessions == 2
    assert json.loads(out)["tables"] == {t: n for t, (n, _) in before.items()}
    assert fingerprint(database, a.club_id) != before


def test_a_backup_that_fails_mid_stream_aborts_its_upload(
    make_tenant: Callable[..., Tenant],
    settings_for: Callable[..., Settings],
    database: str,
    s3: Any,
    bucket: str,
) -> None:
    a = make_tenant("a")
    with psycopg.connect(database) as conn:  # ~40 MiB of rows that compress little: eight parts or so
        conn.execute(
            "INSERT INTO players (club_id, first_name, last_name, position, preferred_foot, birth_date, "
            "guardian_name) SELECT %s, 'P', 'N', 'GK', 'left', '2000-01-01', "
            "encode(gen_random_bytes(1024), 'base64') FROM generate_series(1, 30000)",
            [a.club_id],
        )
    settings = settings_for(a, backup_part_size_mb=5)
    key = contract.backup_table("backups/", a.club_id, "failing", "players")
    bucket_store = store.connect(settings)
    killer = _Terminator(database, a.role_name, s3, bucket, key)

    with killer, pytest.raises(snapshot.BackupError, match="reading the club's rows failed"):
        take(settings, "failing")

    assert killer.terminated
    assert not s3.list_multipart_uploads(Bucket=bucket).get("Uploads")
    assert not store.exists(bucket_store, key)
    assert not store.exists(bucket_store, contract.backup_manifest("backups/", a.club_id, "failing"))


class _Terminator:
    """Ends the backup's database session once its players upload has started (a part is in S3)."""

    def __init__(self, admin_dsn: str, role: str, s3: Any, bucket: str, key: str) -> None:
        import threading

        self.terminated = False
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(admin_dsn, role, s3, bucket, key), daemon=True
        )

    def __enter__(self) -> _Terminator:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self, admin_dsn: str, role: str, s3: Any, bucket: str, key: str) -> None:
        while not self._stop.is_set():
            uploads = s3.list_multipart_uploads(Bucket=bucket, Prefix=key).get("Uploads", [])
            if uploads:
                with psycopg.connect(admin_dsn, autocommit=True) as conn:
                    conn.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role]
                    )
                self.terminated = True
                return
            self._stop.wait(0.05)


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "DATABASE_", "CLUB_ID"))}
    for name, value in settings.model_dump().items():
        if name.startswith(("backup_", "database_url", "database_admin_url", "club_id")):
            env[name.upper()] = value.get_secret_value() if isinstance(value, SecretStr) else str(value)
    return env


def _cli(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "club_runtime", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


def _sessions(admin_dsn: str, role: str) -> int:
    with psycopg.connect(admin_dsn) as conn:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [role]).fetchone()
    return int(row[0]) if row else 0


def _waiting_on_lock(admin_dsn: str, role: str) -> bool:
    with psycopg.connect(admin_dsn) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND wait_event_type = 'Lock'", [role]
        ).fetchone()
    return bool(row and row[0])


def _wait_for(check: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _keys_and_indexes(admin_dsn: str) -> list[tuple[str, ...]]:
    with psycopg.connect(admin_dsn) as conn:
        return [
            tuple(r)
            for r in conn.execute(
                "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated::text "
                "FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
                "UNION ALL SELECT tablename, indexname, indexdef, '' FROM pg_indexes "
                "WHERE schemaname = 'public' "
                "ORDER BY 1, 2, 3, 4"
            ).fetchall()
        ]


def _scratch_databases(admin_dsn: str) -> list[str]:
    with psycopg.connect(admin_dsn) as conn:
        return [
            r[0] for r in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE 'club_verify_%'")
        ]


def test_a_backup_missing_rows_that_others_reference_is_refused(
    make_tenant: Callable[..., Tenant],
    settings_for: Callable[..., Settings],
    database: str,
    s3: Any,
    bucket: str,
) -> None:
    """A manifest and objects that agree but lack rows other rows point at (players, here) are
    refused at the foreign key check, and the club keeps its rows."""
    a = make_tenant("a")
    settings = settings_for(a)
    taken = take(settings)
    players = taken.table("players")
    assert players is not None
    empty = codec.Encoder(1)
    body = empty.feed(b"") + empty.finish()
    s3.put_object(Bucket=bucket, Key=players.key, Body=body)
    tables = tuple(
        t.model_copy(update={"rows": 0, "sha256": empty.sha256, "compressed_bytes": len(body)})
        if t.name == "players"
        else t
        for t in taken.tables
    )
    key = contract.backup_manifest("backups/", a.club_id, taken.backup_id)
    s3.put_object(Bucket=bucket, Key=key, Body=taken.model_copy(update={"tables": tables}).to_json())
    before = fingerprint(database, a.club_id)

    with pytest.raises(restore.RestoreError, match="players"):
        restore_into(settings, a.club_id, taken.backup_id)

    assert fingerprint(database, a.club_id) == before


def test_a_manifest_is_never_overwritten(
    settings_for: Callable[..., Settings], make_tenant: Callable[..., Tenant]
) -> None:
    """Even past the check at the start (two backups racing with one id), S3's conditional write
    keeps the first manifest."""
    bucket_store = store.connect(settings_for(make_tenant("a", seeded=False)))
    key = contract.backup_manifest("backups/", uuid.uuid4(), "race")

    store.put_manifest(bucket_store, key, b"{}")
    with pytest.raises(store.BackupExists, match="never overwritten"):
        store.put_manifest(bucket_store, key, b"{ }")

    assert store.get_bytes(bucket_store, key) == b"{}"
