"""`python -m club_devstack` (make stack): run the local stack in the foreground until Ctrl-C."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from pathlib import Path

from club_devstack.stack import Stack, wait_forever


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="club_devstack", description=__doc__)
    parser.add_argument("--dir", type=Path, help="run folder (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the run folder (data, logs) on exit")
    parser.add_argument("--keda", action="store_true", help="run KEDA's operator and metrics adapter too")
    args = parser.parse_args(argv)
    # The stack's own messages: the real node's start time, or why the stack runs without it.
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Ctrl-C and SIGTERM both end the stack cleanly through the context manager.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    started = time.monotonic()
    print("Starting PostgreSQL, Redis, MinIO and the Kubernetes control plane...", flush=True)
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
    try:
        with Stack.start(args.dir, keep=args.keep, keda=args.keda) as stack:
            print(f"Stack up in {time.monotonic() - started:.1f}s\n", flush=True)
            print(stack.info.describe(), flush=True)
            print(
                f"\nReuse it from tests: CLUB_STACK_FILE={stack.root / 'stack.json'} make test-fast",
                flush=True,
            )
            print("Ctrl-C stops everything.", flush=True)
            wait_forever(stack)
    except KeyboardInterrupt:
        print("\nStopping the stack.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
