"""`club-runtime`: `migrate` (schema to head), `api` (serve the API), `worker` (run the RQ workers),
`backup`, `verify` and `restore` (the club's rows to and from the backup bucket)."""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from club_runtime.settings import get_settings


def _migrate(_: argparse.Namespace) -> int:
    from club_runtime.db import migrate

    settings = get_settings()
    dsn = settings.database_admin_url.get_secret_value() or settings.database_url.get_secret_value()
    migrate.migrate(dsn)
    print("migrations at head")
    return 0


def _api(args: argparse.Namespace) -> int:
    import uvicorn

    from club_runtime.api.app import create_app

    settings = get_settings()
    # One process, one event loop: a club's API scales out by replicas. Measured on two cores shared
    # with PostgreSQL: a second uvicorn worker raised the CPU per request (two pools, more
    # contention) and served fewer requests. uvloop and httptools (dependencies of the runtime, which
    # uvicorn picks up) took a quarter off the API's CPU per request (bench/bench_api_rls.py).
    uvicorn.run(
        create_app(settings),
        host=args.host or settings.api_host,
        port=args.port or settings.api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )
    return 0


def _worker(args: argparse.Namespace) -> int:
    from club_runtime.worker import cli

    result: int = cli.main(args.worker_args)
    return result


_BACKUP_COMMANDS = ("backup", "verify", "restore")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="club-runtime", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database schema to head (DATABASE_ADMIN_URL)").set_defaults(
        run=_migrate
    )
    api = sub.add_parser("api", help="serve the HTTP API")
    api.add_argument("--host", default=None)
    api.add_argument("--port", type=int, default=None)
    api.set_defaults(run=_api)
    worker = sub.add_parser("worker", help="run the RQ workers", add_help=False)
    worker.set_defaults(run=_worker)
    from club_runtime.backup import cli as backup_cli

    backup_cli.add_parsers(sub)
    # The worker parses its own options (`club-runtime worker --help`); argparse.REMAINDER would
    # not capture options that come first, such as `worker --burst`.
    args, rest = parser.parse_known_args(argv)
    if args.command == "worker":
        args.worker_args = rest
    elif rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(level=get_settings().log_level.upper())
    code: int = args.run(args, get_settings()) if args.command in _BACKUP_COMMANDS else args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
