"""Benchmark of one club's backup and restore against bare pg_dump / pg_restore of the same rows.

One club with about 1 GB of rows (players and two wellness entries per player; `--rows` players)
in a shared database beside two other clubs (a tenth of its size each), and the same club's rows,
with the same ids, alone in a database of their own (the `dedicated` copy bare tools get). Then, in
each of `--repeat` rounds (every figure is the best round's: the cores are shared with other work):

- `club-runtime backup` of the club from the shared database (as the club's role, gzip level 1 by
  default, to the stack's MinIO) against `pg_dump -Fc` of the dedicated copy to a file, at its
  default zlib level and at level 1: seconds, MiB/s of table data, ratios; peak RSS of the backup;
- about 1% of the club's rows changed (renamed players, deleted and new wellness entries), then
  `club-runtime restore` of the backup: a rollback in the shared database (only the rows that
  differ rewritten, in one transaction) and into the dedicated copy (the club alone: tables
  emptied, loaded, indexes built again); `club-runtime verify` (into a scratch database; its
  measured load time); against `pg_restore` of the dump into an empty database.

Goals (issue 13): at least 0.9x of bare throughput both ways, backup RSS under 200 MiB whatever the
size. MinIO, PostgreSQL and the tools share the machine's cores: on two cores the figures move by
10-20% between runs.

    .venv/bin/python bench/bench_backup.py [--rows 2000000]     (--rows 50000 for a quick run)

Reuses the stack named by CLUB_STACK_FILE (`make stack`), or starts one of its own. Everything it
creates (databases, roles, the bucket, the dump) is removed at the end."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from club_devstack import stack as stack_module
from club_devstack.stack import StackInfo
from club_runtime.db import migrate, tenancy

MB = 1024 * 1024

_PLAYERS = """
INSERT INTO public.players (id, club_id, first_name, last_name, position, preferred_foot, jersey_number,
    birth_date, guardian_name, guardian_email, guardian_phone, gdpr_consent, retention_until)
SELECT md5(%(club)s::text || ':p' || i)::uuid, %(club)s::uuid, 'First ' || i, md5(i::text),
    (ARRAY['GK', 'DF', 'MF', 'FW'])[1 + i %% 4], (ARRAY['left', 'right', 'both'])[1 + i %% 3], 1 + i %% 99,
    date '1990-01-01' + i %% 9000, md5(i::text || 'guardian') || ' ' || md5(i::text || 'name'),
    md5(i::text || 'mail') || '@example.org', '+44 ' || (i::bigint * 7919) %% 1000000000, i %% 2 = 0,
    date '2030-01-01' + i %% 365
FROM generate_series(1, %(n)s) i
"""

_WELLNESS = """
INSERT INTO public.wellness_entries (id, club_id, player_id, day, sleep_quality, fatigue, soreness, stress,
    mood, hrv_ms, resting_hr)
SELECT md5(%(club)s::text || ':w' || i || ':' || d)::uuid, %(club)s::uuid,
    md5(%(club)s::text || ':p' || i)::uuid,
    date '2024-01-01' + d, 1 + (i + d) %% 5, 1 + i %% 5, 1 + d %% 5, 1 + (i * 3) %% 5, 1 + (i * 7) %% 5,
    20 + (i %% 1000) / 10.0, 40 + i %% 60
FROM generate_series(1, %(n)s) i, generate_series(0, 1) d
"""


@dataclass(frozen=True)
class Club:
    club_id: str
    role: str
    dsn: str


@dataclass(frozen=True)
class Run:
    seconds: float
    max_rss_kib: int
    stdout: str


def create_database(stack: StackInfo, name: str) -> str:
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return stack.postgres.dsn(name)


def drop_database(stack: StackInfo, name: str) -> None:
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def provision(stack: StackInfo, admin: str, club_id: str, slug: str, role: str) -> Club:
    password = secrets.token_urlsafe(16)
    tenancy.provision_club(admin, club_id, slug, role, password)
    dbname = str(psycopg.conninfo.conninfo_to_dict(admin)["dbname"])
    return Club(club_id, role, stack.postgres.dsn(dbname, user=role, password=password))


def fill(admin: str, club_id: str, players: int) -> None:
    with psycopg.connect(admin) as conn:
        conn.execute(_PLAYERS, {"club": club_id, "n": players})
        conn.execute(_WELLNESS, {"club": club_id, "n": players})
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def table_bytes(admin: str) -> int:
    """The heap size of the tenant tables (the data both sides read)."""
    with psycopg.connect(admin) as conn:
        row = conn.execute(
            "SELECT sum(pg_relation_size(c.oid)) FROM pg_class c "
            "WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND c.relrowsecurity"
        ).fetchone()
    return int(row[0]) if row and row[0] else 0


def timed(argv: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a command to completion: its wall time and its peak RSS. The peak is the kernel's VmHWM
    of the process, read every 20 ms (wait4's ru_maxrss would count the pages of this benchmark the
    child had before exec)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.monotonic()
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=err, text=True)
        peak = 0
        while proc.poll() is None:
            peak = max(peak, _hwm_kib(proc.pid))
            time.sleep(0.02)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{' '.join(argv[:4])} failed ({proc.returncode}): {err.read()[-2000:]}")
        return Run(seconds, peak, out.read())


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def runtime_env(stack: StackInfo, club: Club, admin: str, bucket: str, backup_id: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "DATABASE_", "CLUB_"))}
    return keep | {
        "CLUB_ID": club.club_id,
        "DATABASE_URL": club.dsn,
        "DATABASE_ADMIN_URL": admin,
        "BACKUP_S3_ENDPOINT_URL": stack.minio.endpoint,
        "BACKUP_S3_BUCKET": bucket,
        "BACKUP_S3_ACCESS_KEY_ID": stack.minio.access_key,
        "BACKUP_S3_SECRET_ACCESS_KEY": stack.minio.secret_key,
        "BACKUP_ID": backup_id,
        "LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def scratch(stack: StackInfo) -> Iterator[dict[str, Any]]:
    names = {k: f"bench_backup_{k}_{uuid.uuid4().hex[:8]}" for k in ("shared", "dedicated", "restored")}
    bucket = f"bench-backup-{uuid.uuid4().hex[:8]}"
    folder = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    s3 = stack.minio.client()
    s3.create_bucket(Bucket=bucket)
    roles: list[str] = []
    try:
        yield {"names": names, "bucket": bucket, "folder": folder, "roles": roles}
    finally:
        for name in names.values():
            drop_database(stack, name)
        with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
            for role in roles:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for obj in page.get("Contents", []):
                s3.delete_object(Bucket=bucket, Key=obj["Key"])
        s3.delete_bucket(Bucket=bucket)
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=2_000_000, help="players of the club (x3 rows in all)")
    parser.add_argument(
        "--repeat", type=int, default=2, help="rounds; each figure is the best of them (the cores are shared)"
    )
    args = parser.parse_args()
    runtime = [sys.executable, "-m", "club_runtime"]
    with stack_module.running() as stack, scratch(stack) as work:
        names, bucket, folder, roles = work["names"], work["bucket"], work["folder"], work["roles"]
        tag = uuid.uuid4().hex[:6]
        shared = create_database(stack, names["shared"])
        dedicated = create_database(stack, names["dedicated"])
        for admin in (shared, dedicated):
            migrate.migrate(admin)
        club_id = str(uuid.uuid4())
        print(f"filling: {args.rows} players and {2 * args.rows} wellness entries, twice", flush=True)
        started = time.monotonic()
        club = provision(stack, shared, club_id, "bench", f"bench_{tag}_club")
        roles.append(club.role)
        for i in range(2):
            other = provision(stack, shared, str(uuid.uuid4()), f"other-{i}", f"bench_{tag}_other{i}")
            roles.append(other.role)
            fill(shared, other.club_id, max(1, args.rows // 10))
        fill(shared, club_id, args.rows)
        provision(stack, dedicated, club_id, "bench", f"bench_{tag}_ded")
        roles.append(f"bench_{tag}_ded")
        fill(dedicated, club_id, args.rows)
        data = table_bytes(dedicated)
        print(f"filled in {time.monotonic() - started:.0f}s: {data / MB:.0f} MiB of table data\n", flush=True)

        setup = Setup(stack, runtime, club, shared, dedicated, bucket, folder, names)
        rounds = [measure(setup, i + 1) for i in range(args.repeat)]
        report(data=data, rounds=rounds)
    return 0


@dataclass(frozen=True)
class Round:
    ours: Run
    bare: Run
    bare_fast: Run
    changed: int
    ours_restore: Run
    ours_dedicated: Run
    ours_verify: Run
    bare_restore: Run
    dump_bytes: int

    @property
    def backup(self) -> dict[str, Any]:
        return dict(json.loads(self.ours.stdout))

    @property
    def verify_load(self) -> float:
        return float(json.loads(self.ours_verify.stdout)["restoreSeconds"])


def change(admin: str, club_id: str) -> int:
    """Between the backup and the rollback, what a bad day does to about 1% of the club's rows:
    players renamed, wellness entries deleted, new ones entered. Returns the rows touched."""
    touched = 0
    with psycopg.connect(admin) as conn:
        for query in (
            "UPDATE public.players SET last_name = last_name || ' (renamed)' "
            "WHERE club_id = %(club)s AND get_byte(uuid_send(id), 0) < 3",
            "DELETE FROM public.wellness_entries WHERE club_id = %(club)s AND get_byte(uuid_send(id), 0) < 3",
            "INSERT INTO public.wellness_entries (club_id, player_id, day, sleep_quality, fatigue, soreness, "
            "stress, mood) SELECT club_id, id, date '2025-01-01', 3, 3, 3, 3, 3 FROM public.players "
            "WHERE club_id = %(club)s AND get_byte(uuid_send(id), 1) < 3",
        ):
            touched += conn.execute(query, {"club": club_id}).rowcount
    return touched


@dataclass(frozen=True)
class Setup:
    stack: StackInfo
    runtime: list[str]
    club: Club
    shared: str
    dedicated: str
    bucket: str
    folder: Path
    names: dict[str, str]


def measure(setup: Setup, number: int) -> Round:
    """One round: our backup and the bare dumps; rows changed; our rollback into the shared database
    and into the dedicated copy, verify, and pg_restore into an empty database."""
    print(f"round {number}", flush=True)
    stack, runtime, club, shared, dedicated = (
        setup.stack,
        setup.runtime,
        setup.club,
        setup.shared,
        setup.dedicated,
    )
    folder, names = setup.folder, setup.names
    env = runtime_env(stack, club, shared, setup.bucket, f"bench-{number}")
    ours = timed([*runtime, "backup"], env)
    dump = folder / "dedicated.dump"
    bare_fast = timed(["pg_dump", "-Fc", "-Z1", "-f", str(dump), "-d", dedicated])
    bare = timed(["pg_dump", "-Fc", "-f", str(dump), "-d", dedicated])
    changed = change(shared, club.club_id)
    ours_restore = timed([*runtime, "restore"], env)
    change(dedicated, club.club_id)
    ours_dedicated = timed([*runtime, "restore"], env | {"DATABASE_ADMIN_URL": dedicated})
    ours_verify = timed([*runtime, "verify"], env)
    drop_database(stack, names["restored"])
    restored = create_database(stack, names["restored"])
    bare_restore = timed(["pg_restore", "--no-owner", "-d", restored, str(dump)])
    return Round(
        ours=ours,
        bare=bare,
        bare_fast=bare_fast,
        changed=changed,
        ours_restore=ours_restore,
        ours_dedicated=ours_dedicated,
        ours_verify=ours_verify,
        bare_restore=bare_restore,
        dump_bytes=dump.stat().st_size,
    )


def report(*, data: int, rounds: list[Round]) -> None:
    def best(pick: Any) -> float:
        return float(min(pick(r) for r in rounds))

    def line(label: str, run_seconds: float, extra: str = "") -> None:
        print(f"  {label:<22} {run_seconds:7.1f}s {data / MB / run_seconds:7.1f} MiB/s  {extra}")

    first = rounds[0]
    ours, bare, bare_fast = (
        best(lambda r: r.ours.seconds),
        best(lambda r: r.bare.seconds),
        best(lambda r: r.bare_fast.seconds),
    )
    restore, dedicated = best(lambda r: r.ours_restore.seconds), best(lambda r: r.ours_dedicated.seconds)
    verify, load = best(lambda r: r.ours_verify.seconds), best(lambda r: r.verify_load)
    bare_restore = best(lambda r: r.bare_restore.seconds)
    print(
        f"\nclub data: {data / MB:.0f} MiB of tables, {first.backup['rows']} rows; "
        f"best of {len(rounds)} rounds"
    )
    print("backup")
    line("club-runtime backup", ours, f"{first.backup['compressedBytes'] / MB:.1f} MiB gzip")
    line("pg_dump -Fc", bare, f"{first.dump_bytes / MB:.1f} MiB (zlib level 6, its default)")
    line("pg_dump -Fc -Z1", bare_fast, "(zlib level 1, as ours)")
    print(
        f"  throughput ratio ours/bare {bare / ours:.2f}x, {bare_fast / ours:.2f}x against -Z1 (goal >= 0.9x)"
    )
    print(
        f"  peak RSS: club-runtime backup {max(r.ours.max_rss_kib for r in rounds) / 1024:.0f} MiB "
        f"(goal < 200), pg_dump {max(r.bare.max_rss_kib for r in rounds) / 1024:.0f} MiB"
    )
    print(f"restore ({first.changed} rows changed since the backup, about 1%)")
    line("club-runtime restore", restore, "(rollback in the shared database: only the rows that differ)")
    line("  dedicated", dedicated, "(the club alone in its database: emptied, loaded, indexes rebuilt)")
    line("club-runtime verify", verify, "(scratch database: create, migrate, load, check, drop)")
    line("  of which loading", load)
    line("pg_restore", bare_restore, "(into an empty database)")
    print(
        f"  throughput ratio ours/bare {bare_restore / restore:.2f}x restore, "
        f"{bare_restore / dedicated:.2f}x dedicated, {bare_restore / load:.2f}x verify's load (goal >= 0.9x)"
    )
    for i, r in enumerate(rounds, 1):
        print(
            f"  round {i}: backup {r.ours.seconds:.1f}s, pg_dump {r.bare.seconds:.1f}s, restore "
            f"{r.ours_restore.seconds:.1f}s, dedicated {r.ours_dedicated.seconds:.1f}s, verify's load "
            f"{r.verify_load:.1f}s, pg_restore {r.bare_restore.seconds:.1f}s"
        )


if __name__ == "__main__":
    sys.exit(main())
