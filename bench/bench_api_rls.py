"""Benchmark of listing players under row-level security: one database holding 50 clubs of 500 players,
one club's API serving `GET /api/v1/players?limit=50&offset=...` to 32 concurrent clients over
loopback, then in the same run the same page query sent straight to PostgreSQL by 32 connections, as
the club's role (RLS) and as a role that bypasses it (with `WHERE club_id = ...` instead), in
alternating rounds.

Prints throughput and p50/p95/p99 latency of each, and the RLS overhead ratio (club role / bypass).
Goals on a 2-core machine: API p95 under 25 ms, RLS overhead at most 1.15x.

    .venv/bin/python bench/bench_api_rls.py [--requests 4000]     (BENCH_CLIENTS=1 for one client)

Reuses the stack named by CLUB_STACK_FILE (`make stack`), or starts one of its own. Everything it
creates (a database, its club roles) is dropped at the end."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta

import httpx
import psycopg
from psycopg import sql

from club_devstack import stack as stack_module
from club_devstack.stack import StackInfo
from club_runtime.core import security
from club_runtime.db import migrate, tenancy

CLUBS = 50
PLAYERS = 500
PAGE = 50
CLIENTS = int(os.environ.get("BENCH_CLIENTS", "32"))
ROUNDS = 4
LIST_PLAYERS = sql.SQL(
    "SELECT * FROM public.players {} ORDER BY last_name, first_name, id LIMIT %s OFFSET %s"
)


@contextlib.contextmanager
def bench_database(stack: StackInfo) -> Iterator[tuple[str, list[tuple[str, str, str]]]]:
    """A migrated database of CLUBS clubs with PLAYERS players each; yields the admin DSN and, per
    club, (club_id, role, DSN of the role)."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin = stack.postgres.dsn(name)
    clubs: list[tuple[str, str, str]] = []
    try:
        migrate.migrate(admin)
        for n in range(CLUBS):
            club_id, role, password = (
                str(uuid.uuid4()),
                f"bench_{uuid.uuid4().hex[:10]}",
                secrets.token_urlsafe(16),
            )
            tenancy.provision_club(admin, club_id, f"bench-{n}", role, password)
            clubs.append((club_id, role, stack.postgres.dsn(name, user=role, password=password)))
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
        yield admin, clubs
    finally:
        with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            for _, role, _ in clubs:
                conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def api_server(stack: StackInfo, admin: str, club: tuple[str, str, str], keys: str) -> Iterator[str]:
    """`club-runtime api` of one club in a process of its own, on a loopback port."""
    club_id, _, dsn = club
    port = free_port()
    env = {
        **os.environ,
        "CLUB_ID": club_id,
        "CLUB_SLUG": "bench",
        "DATABASE_URL": dsn,
        "DATABASE_POOL_MIN": "4",
        "DATABASE_POOL_MAX": "8",
        "REDIS_URL": stack.redis.url(0),
        "S3_ENDPOINT_URL": stack.minio.endpoint,
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
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


async def run_clients(total: int, one: Callable[[int], Awaitable[None]]) -> tuple[float, list[float]]:
    """CLIENTS workers sharing `total` calls of `one(i)`; returns the wall time and each call's latency."""
    latencies: list[float] = []
    counter = iter(range(total))

    async def worker() -> None:
        for i in counter:
            started = time.perf_counter()
            await one(i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CLIENTS)))
    return time.perf_counter() - started, latencies


def offset(i: int) -> int:
    return (i * PAGE) % PLAYERS


async def bench_api(base: str, token: str, total: int) -> tuple[float, list[float]]:
    # One client (one keep-alive connection) per concurrent caller, as bench_sql has one connection
    # each: 32 callers sharing one httpx client spent more CPU in its connection pool than the API
    # spent serving them, on the same two cores.
    headers = {"Authorization": f"Bearer {token}"}
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with contextlib.AsyncExitStack() as stack:
        free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for _ in range(CLIENTS):
            client = httpx.AsyncClient(base_url=base, headers=headers, limits=limits, timeout=30)
            free.put_nowait(await stack.enter_async_context(client))

        async def one(i: int) -> None:
            client = await free.get()
            try:
                got = await client.get("/api/v1/players", params={"limit": PAGE, "offset": offset(i)})
            finally:
                free.put_nowait(client)
            if got.status_code != 200 or len(got.json()["items"]) != PAGE:
                raise RuntimeError(f"unexpected answer {got.status_code}")

        await run_clients(CLIENTS * 4, one)  # warm-up: connections, pool, plans
        return await run_clients(total, one)


async def bench_sql(
    dsn: str, where: sql.Composable, params: list[object], total: int
) -> tuple[float, list[float]]:
    conns = [await psycopg.AsyncConnection.connect(dsn, autocommit=True) for _ in range(CLIENTS)]
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
        await run_clients(CLIENTS * 4, one)
        return await run_clients(total, one)
    finally:
        for conn in conns:
            await conn.close()


def merged(runs: list[tuple[float, list[float]]]) -> tuple[float, list[float]]:
    return sum(wall for wall, _ in runs), [latency for _, latencies in runs for latency in latencies]


def report(name: str, wall: float, latencies: list[float]) -> dict[str, float]:
    q = statistics.quantiles(latencies, n=100)
    figures = {"rps": len(latencies) / wall, "p50": q[49] * 1000, "p95": q[94] * 1000, "p99": q[98] * 1000}
    figures["mean"] = statistics.fmean(latencies) * 1000
    print(
        f"{name:<34} {figures['rps']:8.0f} req/s   p50 {figures['p50']:6.2f} ms   "
        f"p95 {figures['p95']:6.2f} ms   p99 {figures['p99']:6.2f} ms"
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=4000, help="requests per measurement")
    args = parser.parse_args()
    keys = json.dumps({"active": "b", "keys": {"b": secrets.token_urlsafe(32)}})
    with stack_module.running() as stack, bench_database(stack) as (admin, clubs):
        club_id, _, club_dsn = clubs[CLUBS // 2]
        with psycopg.connect(club_dsn) as conn:
            row = conn.execute(
                "INSERT INTO public.users (email, password_hash, role) "
                "VALUES ('bench@club.test', 'x', 'owner') RETURNING id"
            ).fetchone()
        assert row is not None
        claims = security.Claims(row[0], club_id, "owner", "access", 0)
        token = security.issue_token(security.KeySet.parse(keys), claims=claims, ttl=timedelta(hours=1))
        print(
            f"{CLUBS} clubs x {PLAYERS} players; page of {PAGE}; {CLIENTS} concurrent clients; "
            f"{args.requests} requests each\n"
        )
        with api_server(stack, admin, clubs[CLUBS // 2], keys) as base:
            api = report("API GET /api/v1/players", *asyncio.run(bench_api(base, token, args.requests)))
        # The two SQL measurements alternate in rounds, so that a burst of load from elsewhere on the
        # machine does not land on one side of the ratio only.
        rls_runs, owner_runs = [], []
        for _ in range(ROUNDS):
            per_round = args.requests // ROUNDS
            rls_runs.append(asyncio.run(bench_sql(club_dsn, sql.SQL(""), [], per_round)))
            owner_runs.append(
                asyncio.run(bench_sql(admin, sql.SQL("WHERE club_id = %s"), [club_id], per_round))
            )
        rls = report("SQL as the club role (RLS)", *merged(rls_runs))
        owner = report("SQL as owner, no RLS (WHERE club_id)", *merged(owner_runs))
        ratio_mean = rls["mean"] / owner["mean"]
        ratio_p95 = rls["p95"] / owner["p95"]
        print(
            f"\nRLS overhead: {ratio_mean:.2f}x mean latency, {ratio_p95:.2f}x p95, "
            f"{owner['rps'] / rls['rps']:.2f}x throughput (goal <= 1.15x)"
        )
        print(f"API p95: {api['p95']:.1f} ms (goal < 25 ms): {'met' if api['p95'] < 25 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
