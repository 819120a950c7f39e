"""Benchmark of the API's CPU per request beside PostgreSQL's, and of row-level security's overhead.

One database holds 50 clubs of 500 players (a month of training loads for one club); one club's API
(`club-runtime api`, one process) is driven by `wrk`, a compiled load generator (Debian's package),
with 32 keep-alive connections over loopback, on four routes:

- `GET /api/v1/players?limit=50&offset=...` (a page of 50 players),
- `POST /api/v1/wellness` (one write: a wellness entry, a new day each request),
- `GET /api/v1/players/{id}/load?on=...` (a player's load summary: two queries and the load model).
- `GET /healthz` (no database, no authentication: what the HTTP server and the framework cost on
  their own, the floor under every route's figure).

For each it prints the API process's CPU per 1,000 requests (user + system time from /proc/<pid>/stat,
before and after) beside the CPU of the PostgreSQL backends serving that database for the same
requests (their pids from pg_stat_activity, their time from /proc), with wrk's throughput and latency.

Then the same page query is sent straight to PostgreSQL by 32 connections, as the club's role (RLS)
and as a role that bypasses it (with `WHERE club_id = ...` instead), in alternating rounds, and the
RLS overhead is printed as the ratio of the backends' CPU per query and of the latencies. Figures
only: nothing is asserted about time.

    .venv/bin/python bench/bench_api_rls.py [--seconds 5]

Reuses the stack named by CLUB_STACK_FILE (`make stack`), or starts PostgreSQL, Redis and MinIO of
its own (the API needs no Kubernetes). Everything it creates (a database, its club roles) is dropped
at the end."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import httpx
import psycopg
from psycopg import sql

from club_devstack import datastores
from club_devstack import stack as stack_module
from club_runtime.core import security
from club_runtime.db import migrate, tenancy

CLUBS = 50
PLAYERS = 500
PAGE = 50
CONNECTIONS = 32
ROUNDS = 4
SQL_QUERIES = 4000
# The load summary's day: sessions are seeded over the 28 days before it.
LOAD_DAY = date(2026, 1, 31)
LIST_PLAYERS = sql.SQL(
    "SELECT * FROM public.players {} ORDER BY last_name, first_name, id LIMIT %s OFFSET %s"
)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Datastores:
    postgres: datastores.PostgresInfo
    redis: datastores.RedisInfo
    minio: datastores.MinioInfo


@contextlib.contextmanager
def running_datastores() -> Iterator[Datastores]:
    """The stack's datastores when CLUB_STACK_FILE names a running stack, else PostgreSQL, Redis and
    MinIO of our own, stopped (and their folder deleted) on exit."""
    if os.environ.get("CLUB_STACK_FILE"):
        with stack_module.running() as stack:
            yield Datastores(stack.postgres, stack.redis, stack.minio)
        return
    root = Path(tempfile.mkdtemp(prefix="club-bench-"))
    root.chmod(0o755)
    logs = root / "logs"
    logs.mkdir()
    procs = []
    try:
        pg_proc, pg = datastores.start_postgres(root, logs)
        procs.append(pg_proc)
        redis_proc, redis = datastores.start_redis(root, logs)
        procs.append(redis_proc)
        minio_proc, minio = datastores.start_minio(root, logs)
        procs.append(minio_proc)
        yield Datastores(pg, redis, minio)
    finally:
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class Club:
    club_id: str
    role: str
    dsn: str


@contextlib.contextmanager
def bench_database(pg: datastores.PostgresInfo) -> Iterator[tuple[str, str, list[Club]]]:
    """A migrated database of CLUBS clubs with PLAYERS players each; yields its name, the admin DSN
    and the clubs."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin = pg.dsn(name)
    clubs: list[Club] = []
    try:
        migrate.migrate(admin)
        for n in range(CLUBS):
            club_id, role, password = (
                str(uuid.uuid4()),
                f"bench_{uuid.uuid4().hex[:10]}",
                secrets.token_urlsafe(16),
            )
            tenancy.provision_club(admin, club_id, f"bench-{n}", role, password)
            clubs.append(Club(club_id, role, pg.dsn(name, user=role, password=password)))
        with psycopg.connect(admin) as conn:
            conn.execute(
                "INSERT INTO public.players "
                "(club_id, first_name, last_name, position, preferred_foot, birth_date) "
                "SELECT c.club_id, 'First' || i, 'Last' || lpad((i * 7919 %% %s)::text, 4, '0'), "
                "(ARRAY['GK','DF','MF','FW'])[1 + i %% 4], 'right', date '1995-01-01' + i "
                "FROM public.clubs c, generate_series(1, %s) AS i",
                [PLAYERS, PLAYERS],
            )
            conn.execute("ANALYZE")
        yield name, admin, clubs
    finally:
        with psycopg.connect(pg.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            for club in clubs:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(club.role)))


def seed_loads(club: Club) -> str:
    """A month of daily sessions (every player present, with RPE) and wellness entries in the club;
    returns one player's id, the one the load summary is asked for."""
    with psycopg.connect(club.dsn) as conn:
        conn.execute(
            "INSERT INTO public.training_sessions (title, starts_at, duration_min) "
            "SELECT 'Session ' || d, (%s::date - d) + time '10:00', 90 FROM generate_series(0, 27) AS d",
            [LOAD_DAY],
        )
        conn.execute(
            "INSERT INTO public.attendance (session_id, player_id, status, minutes, rpe) "
            "SELECT s.id, p.id, 'present', 90, 3 + (abs(hashtext(p.id::text || s.id::text)) % 6) "
            "FROM public.training_sessions s, public.players p"
        )
        conn.execute(
            "INSERT INTO public.wellness_entries "
            "(player_id, day, sleep_quality, fatigue, soreness, stress, mood, hrv_ms, resting_hr) "
            "SELECT p.id, %s::date - d, 3, 3, 2, 2, 4, 60 + d, 55 "
            "FROM public.players p, generate_series(0, 27) AS d",
            [LOAD_DAY],
        )
        row = conn.execute("SELECT id FROM public.players ORDER BY last_name LIMIT 1").fetchone()
        conn.execute("ANALYZE")
    assert row is not None
    return str(row[0])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def api_server(stores: Datastores, club: Club, keys: str) -> Iterator[tuple[str, int]]:
    """`club-runtime api` of one club in a process of its own, on a loopback port; yields its base URL
    and pid."""
    port = free_port()
    env = {
        **os.environ,
        "CLUB_ID": club.club_id,
        "CLUB_SLUG": "bench",
        "DATABASE_URL": club.dsn,
        "DATABASE_POOL_MIN": "4",
        "DATABASE_POOL_MAX": "8",
        "REDIS_URL": stores.redis.url(0),
        "S3_ENDPOINT_URL": stores.minio.endpoint,
        "S3_BUCKET": "bench",
        "JWT_KEYS": keys,
        "LOG_LEVEL": "WARNING",
    }
    args = [sys.executable, "-m", "club_runtime", "api", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(args, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError("the API did not start")
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (fields 14 and 15 of /proc/<pid>/stat); 0 once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


class BackendCpu:
    """CPU of the PostgreSQL backends connected to one database, except the one asking."""

    def __init__(self, admin_dsn: str, database: str) -> None:
        self.conn = psycopg.connect(admin_dsn, autocommit=True)
        self.database = database

    def sample(self) -> dict[int, float]:
        rows = self.conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [self.database],
        ).fetchall()
        return {pid: cpu_seconds(pid) for (pid,) in rows}

    @staticmethod
    def spent(before: dict[int, float], after: dict[int, float]) -> float:
        # A backend that started in between counts from zero; one that ended in between is lost
        # (the pools are warm and fixed in size, so neither happens in a measurement).
        return sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items())

    def close(self) -> None:
        self.conn.close()


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float


_DURATION_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    if match is None:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match[1]) * _DURATION_UNITS[match[2]]


def parse_wrk(output: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([0-9.]+)(us|ms|s|m)", output)
    if done is None:
        raise RuntimeError(f"wrk printed no summary:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    errors = int(non_2xx[1]) if non_2xx else 0
    if socket_errors:
        errors += sum(int(n) for n in re.findall(r"\d+", socket_errors[1]))
    p50 = re.search(r"^\s+50%\s+(\S+)", output, re.MULTILINE)
    p99 = re.search(r"^\s+99%\s+(\S+)", output, re.MULTILINE)
    if p50 is None or p99 is None:
        raise RuntimeError(f"wrk printed no latency distribution:\n{output}")
    return WrkResult(int(done[1]), _ms(done[2] + done[3]) / 1000, errors, _ms(p50[1]), _ms(p99[1]))


def lua_script(token: str, route: str, player_id: str) -> str:
    """wrk's script for a route: the bearer token on every request, and per request a path or body
    that varies (the page's offset, the wellness entry's day)."""
    head = f'wrk.headers["Authorization"] = "Bearer {token}"\nlocal n = 0\n'
    if route == "players":
        return head + (
            "request = function()\n  n = n + 1\n"
            f"  local offset = (n * {PAGE}) % {PLAYERS}\n"
            f'  return wrk.format("GET", "/api/v1/players?limit={PAGE}&offset=" .. offset)\n'
            "end\n"
        )
    if route == "wellness":
        # Days from 2030 on, from a random start per run: none lands in the load summary's month,
        # and a run seldom meets an entry of the one before (that would be an update, still a write).
        return head + (
            'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
            "math.randomseed(os.time())\nlocal base = 1893456000 + math.random(0, 999) * 86400\n"
            "request = function()\n  n = n + 1\n"
            '  local day = os.date("!%Y-%m-%d", base + (n % 20000) * 86400)\n'
            f'  local body = \'{{"player_id": "{player_id}", "day": "\' .. day .. '
            '\'", "sleep_quality": 3, "fatigue": 2, "soreness": 2, "stress": 3, "mood": 4, '
            '"hrv_ms": 61.5, "resting_hr": 52}\'\n'
            '  return wrk.format(nil, "/api/v1/wellness", nil, body)\nend\n'
        )
    if route == "load":
        return head + f'wrk.path = "/api/v1/players/{player_id}/load?on={LOAD_DAY.isoformat()}"\n'
    if route == "health":
        return 'wrk.path = "/healthz"\n'
    raise ValueError(route)


ROUTES = {
    "players": "GET  /api/v1/players (page of 50)",
    "wellness": "POST /api/v1/wellness",
    "load": "GET  /api/v1/players/{id}/load",
    "health": "GET  /healthz (the server's floor)",
}


def run_wrk(base: str, script: Path, seconds: int) -> WrkResult:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed: hack/tools.sh apt (Debian's wrk package)")
    # wrk's default timeout (2 s) fails requests that a busy shared machine merely delays.
    args = [
        wrk,
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{seconds}s",
        "--timeout",
        "20s",
        "--latency",
        "-s",
        str(script),
        base,
    ]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def bench_route(
    base: str, api_pid: int, backends: BackendCpu, script: Path, seconds: int
) -> tuple[WrkResult, float, float]:
    """wrk on one route (a warm-up, then the measured run); returns its figures and the API's and
    PostgreSQL's CPU milliseconds per request."""
    run_wrk(base, script, 1)
    api_before, pg_before = cpu_seconds(api_pid), backends.sample()
    result = run_wrk(base, script, seconds)
    api_cpu, pg_cpu = cpu_seconds(api_pid) - api_before, BackendCpu.spent(pg_before, backends.sample())
    if result.errors:
        raise RuntimeError(f"{result.errors} of {result.requests} requests failed ({script.name})")
    if not result.requests:
        raise RuntimeError(f"no request completed in {seconds} s ({script.name}): the machine is too busy")
    return result, api_cpu * 1000 / result.requests, pg_cpu * 1000 / result.requests


async def run_clients(total: int, one: Callable[[int], Awaitable[None]]) -> tuple[float, list[float]]:
    """CONNECTIONS workers sharing `total` calls of `one(i)`; returns the wall time and each latency."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return time.perf_counter() - started, latencies


def offset(i: int) -> int:
    return (i * PAGE) % PLAYERS


async def bench_sql(
    dsn: str, where: sql.Composable, params: list[object], total: int, backends: BackendCpu
) -> tuple[float, list[float], float]:
    """The page query from CONNECTIONS connections; wall time, latencies and the backends' CPU."""
    conns = [await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(CONNECTIONS)]
    free: asyncio.Queue[psycopg.AsyncConnection[tuple[object, ...]]] = asyncio.Queue()
    for conn in conns:
        free.put_nowait(conn)
    query = LIST_PLAYERS.format(where)

    async def one(i: int) -> None:
        conn = await free.get()
        try:
            cur = await conn.execute(query, [*params, PAGE, offset(i)])
            if len(await cur.fetchall()) != PAGE:
                raise RuntimeError("unexpected page size")
        finally:
            free.put_nowait(conn)

    try:
        await run_clients(CONNECTIONS * 4, one)
        before = backends.sample()
        wall, latencies = await run_clients(total, one)
        return wall, latencies, BackendCpu.spent(before, backends.sample())
    finally:
        for conn in conns:
            await conn.close()


def print_sql(name: str, runs: list[tuple[float, list[float], float]]) -> dict[str, float]:
    latencies = [latency for _, run, _ in runs for latency in run]
    q = statistics.quantiles(latencies, n=100)
    figures = {
        "mean": statistics.fmean(latencies) * 1000,
        "p95": q[94] * 1000,
        "cpu": sum(cpu for _, _, cpu in runs) * 1000 / len(latencies),
    }
    print(
        f"{name:<38} PostgreSQL CPU {figures['cpu']:.3f} ms/query   "
        f"mean {figures['mean']:6.2f} ms   p95 {figures['p95']:6.2f} ms"
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5, help="wrk's run per route (after 1 s of warm-up)")
    parser.add_argument("--routes", default=",".join(ROUTES), help=f"among {', '.join(ROUTES)}")
    args = parser.parse_args()
    keys = json.dumps({"active": "b", "keys": {"b": secrets.token_urlsafe(32)}})
    with (
        running_datastores() as stores,
        bench_database(stores.postgres) as (database, admin, clubs),
        tempfile.TemporaryDirectory(prefix="bench-wrk-") as scripts,
    ):
        club = clubs[CLUBS // 2]
        player_id = seed_loads(club)
        with psycopg.connect(club.dsn) as conn:
            row = conn.execute(
                "INSERT INTO public.users (email, password_hash, role) "
                "VALUES ('bench@club.test', 'x', 'owner') RETURNING id"
            ).fetchone()
        assert row is not None
        claims = security.Claims(row[0], club.club_id, "owner", "access", 0)
        token = security.issue_token(security.KeySet.parse(keys), claims=claims, ttl=timedelta(hours=1))
        print(
            f"{CLUBS} clubs x {PLAYERS} players; wrk, {CONNECTIONS} connections, {args.seconds:g} s per "
            "route; CPU in ms per request (= s per 1,000 requests)\n"
        )
        backends = BackendCpu(admin, database)
        try:
            with api_server(stores, club, keys) as (base, api_pid):
                for route in args.routes.split(","):
                    script = Path(scripts) / f"{route}.lua"
                    script.write_text(lua_script(token, route, player_id))
                    result, api_ms, pg_ms = bench_route(base, api_pid, backends, script, args.seconds)
                    ratio = f"{api_ms / pg_ms:5.1f}x" if pg_ms > 0 else "    -"
                    print(
                        f"{ROUTES[route]:<36} {result.requests / result.seconds:6.0f} req/s "
                        f"({result.requests} requests)   API CPU {api_ms:.3f} ms   PostgreSQL CPU "
                        f"{pg_ms:.3f} ms   API/PostgreSQL {ratio}   "
                        f"p50 {result.p50_ms:6.2f} ms   p99 {result.p99_ms:6.2f} ms"
                    )
            # The two SQL measurements alternate in rounds, so that a burst of load from elsewhere on
            # the machine does not land on one side of the ratio only.
            rls_runs, owner_runs = [], []
            for _ in range(ROUNDS):
                per_round = SQL_QUERIES // ROUNDS
                rls_runs.append(asyncio.run(bench_sql(club.dsn, sql.SQL(""), [], per_round, backends)))
                owner_runs.append(
                    asyncio.run(
                        bench_sql(admin, sql.SQL("WHERE club_id = %s"), [club.club_id], per_round, backends)
                    )
                )
        finally:
            backends.close()
        print(f"\nThe page query straight to PostgreSQL, {SQL_QUERIES} queries each:")
        rls = print_sql("as the club role (RLS)", rls_runs)
        owner = print_sql("as owner, no RLS (WHERE club_id)", owner_runs)
        print(
            f"\nRLS overhead: {rls['cpu'] / owner['cpu']:.2f}x PostgreSQL CPU per query, "
            f"{rls['mean'] / owner['mean']:.2f}x mean latency, {rls['p95'] / owner['p95']:.2f}x p95 "
            "(goal <= 1.15x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
