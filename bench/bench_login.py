"""Benchmark of what a refused login costs: a wrong password, a locked account (right or wrong
password), an unknown email, beside an admitted login, each sent to one club's API (`club-runtime api`
in a process of its own) by one client over loopback, in interleaved rounds.

Prints the p50/p95 latency of each and the ratios to a wrong password. Goal: every refusal within a few
percent of a wrong password (the argon2 verification dominates all of them), so that the answer's time
tells a locked account or an unknown email from a wrong password no better than its content does.

    .venv/bin/python bench/bench_login.py [--rounds 20]

Reuses the stack named by CLUB_STACK_FILE (`make stack`), or starts one of its own. Everything it
creates (a database, a club role) is dropped at the end."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import time
import uuid
from collections.abc import Iterator

import httpx
import psycopg
from psycopg import sql

from bench_api_rls import api_server
from club_devstack import stack as stack_module
from club_devstack.stack import StackInfo
from club_runtime.core import security
from club_runtime.db import migrate, tenancy

PASSWORD = "correct horse battery staple"  # noqa: S105 - the benchmark's own test account
# (label, email, password): the accounts are made below; `locked@` is locked for the whole run.
KINDS = [
    ("wrong password", "open@club.test", "wrong"),
    ("locked, right password", "locked@club.test", PASSWORD),
    ("locked, wrong password", "locked@club.test", "wrong"),
    ("unknown email", "nobody@club.test", PASSWORD),
    ("admitted", "open@club.test", PASSWORD),
]


@contextlib.contextmanager
def club_database(stack: StackInfo) -> Iterator[tuple[str, tuple[str, str, str]]]:
    """A migrated database with one club, its `open@` and `locked@` accounts; yields the admin DSN and
    (club_id, role, DSN of the role)."""
    name = f"bench_{uuid.uuid4().hex[:10]}"
    role = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin = stack.postgres.dsn(name)
    try:
        migrate.migrate(admin)
        club_id, password = str(uuid.uuid4()), secrets.token_urlsafe(16)
        tenancy.provision_club(admin, club_id, "bench-login", role, password)
        dsn = stack.postgres.dsn(name, user=role, password=password)
        with psycopg.connect(dsn) as conn:
            for email, locked in (("open@club.test", False), ("locked@club.test", True)):
                conn.execute(
                    "INSERT INTO public.users (email, password_hash, role, locked_until) "
                    "VALUES (%s, %s, 'coach', CASE WHEN %s THEN now() + interval '1 day' END)",
                    [email, security.hash_password(PASSWORD), locked],
                )
        yield admin, (club_id, role, dsn)
    finally:
        with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
            conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def measure(base: str, rounds: int) -> dict[str, list[float]]:
    latencies: dict[str, list[float]] = {label: [] for label, _, _ in KINDS}
    with httpx.Client(base_url=base, timeout=30) as client:
        for _ in range(rounds):
            for label, email, password in KINDS:
                started = time.perf_counter()
                answer = client.post("/api/v1/auth/login", json={"email": email, "password": password})
                latencies[label].append(time.perf_counter() - started)
                assert answer.status_code == (200 if label == "admitted" else 401), (label, answer.text)
    return latencies


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="logins of each kind")
    args = parser.parse_args()
    keys = json.dumps({"active": "b", "keys": {"b": secrets.token_urlsafe(32)}})
    # The `open@` account must never lock, however many wrong passwords the run sends.
    os.environ["LOGIN_MAX_FAILURES"] = str(10 * args.rounds * len(KINDS))
    with (
        stack_module.running() as stack,
        club_database(stack) as (admin, club),
        api_server(stack, admin, club, keys) as base,
    ):
        measure(base, 2)  # warm-up: connections, imports, the dummy hash
        latencies = measure(base, args.rounds)
    reference = statistics.median(latencies["wrong password"])
    print(f"{args.rounds} logins of each kind, one client\n")
    for label, values in latencies.items():
        q = statistics.quantiles(values, n=20)
        median = statistics.median(values)
        print(
            f"{label:<24} p50 {median * 1000:7.2f} ms   p95 {q[18] * 1000:7.2f} ms   "
            f"x{median / reference:.3f} of a wrong password"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
