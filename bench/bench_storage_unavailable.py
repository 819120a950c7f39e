"""Benchmark of how soon the storage step gives up on an S3 server that is down: a port nothing
listens on (connections refused) and a server that accepts connections but never answers (the
operator's per-request timeout, here 0.5 s, and its bounded retries), each through
`storage.ensure_storage`, `storage.delete_storage` and `storage.storage_ready`.

Prints the p50 and the maximum time to StorageUnavailable of each. Goal: a few seconds at most, so
that a reconcile facing a down server fails fast and is retried with backoff rather than holding a
worker thread. (The integration tests check what the failure is, never how long it took.)

    .venv/bin/python bench/bench_storage_unavailable.py [--rounds 5]

Needs no stack: nothing answers at either address."""

from __future__ import annotations

import argparse
import contextlib
import socket
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Iterator

from club_operator import storage
from club_operator.storage import S3Server, StoragePlan


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    yield f"http://127.0.0.1:{port}"


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    held: list[socket.socket] = []
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)

        def accept() -> None:
            with contextlib.suppress(OSError):
                while True:
                    held.append(silent.accept()[0])

        threading.Thread(target=accept, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{silent.getsockname()[1]}"
        finally:
            for conn in held:
                conn.close()


def time_to_fail(call: Callable[[], object]) -> float:
    started = time.perf_counter()
    try:
        call()
    except storage.StorageUnavailable:
        return time.perf_counter() - started
    raise AssertionError("the call did not fail")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    name = f"club-bench-{uuid.uuid4().hex[:10]}"
    plan = StoragePlan(name, name, uuid.uuid4().hex, name, 4 * 1024 * 1024, "tmp/", 3)
    steps: dict[str, Callable[[S3Server], object]] = {
        "ensure_storage": lambda server: storage.ensure_storage(server, plan),
        "delete_storage": lambda server: storage.delete_storage(server, plan),
        "storage_ready": lambda server: storage.storage_ready(server, plan),
    }
    print(f"{args.rounds} rounds of each, seconds to StorageUnavailable\n")
    for label, address in (("refused", closed_port), ("never answers", silent_server)):
        for step, call in steps.items():
            times = []
            for _ in range(args.rounds):
                with address() as endpoint:
                    server = S3Server(endpoint, "bench-admin", uuid.uuid4().hex, timeout_s=0.5)
                    times.append(time_to_fail(lambda server=server, call=call: call(server)))
            print(f"{label:>14} {step:<15} p50 {statistics.median(times):6.2f}  max {max(times):6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
