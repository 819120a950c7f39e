"""Continuous load on a Club's API, as several clients: each logs in, reads with its token for a
few seconds (the players page and its own account), then logs in again. Run as a script (standard
library only) in the network where the API's Service answers:

    python tests/support/api_load.py '{"base": ..., "email": ..., "password": ..., "clients": 4,
                                      "relogin_sec": 8, "stop_file": ..., "report": ...}'

Runs until `stop_file` exists, then writes `report` (JSON): requests, failures (each with what was
asked, the status or error and when), and the number of logins."""

from __future__ import annotations

import json
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any


def _request(
    base: str, method: str, path: str, body: Any = None, token: str | None = None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    if not base.startswith("http://"):
        raise ValueError("the API is reached over http:// inside the cluster's network")
    request = urllib.request.Request(base + path, method=method, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=15) as resp:  # noqa: S310
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")[:200]


class Load:
    def __init__(self, asked: dict[str, Any]) -> None:
        self.asked = asked
        self.lock = threading.Lock()
        self.requests = 0
        self.logins = 0
        self.failures: list[dict[str, Any]] = []

    def call(self, method: str, path: str, body: Any = None, token: str | None = None) -> Any:
        try:
            status, answer = _request(self.asked["base"], method, path, body, token)
            error = None if 200 <= status < 300 else f"HTTP {status}: {answer}"
        except (OSError, ValueError) as exc:  # refused, reset, timed out, not JSON
            answer, error = None, f"{type(exc).__name__}: {exc}"
        with self.lock:
            self.requests += 1
            if error is not None:
                self.failures.append({"request": f"{method} {path}", "error": error, "at": time.time()})
        return None if error is not None else answer

    def client(self, stop: Path) -> None:
        credentials = {"email": self.asked["email"], "password": self.asked["password"]}
        while not stop.exists():
            tokens = self.call("POST", "/api/v1/auth/login", credentials)
            if tokens is None:
                time.sleep(0.5)
                continue
            with self.lock:
                self.logins += 1
            until = time.monotonic() + float(self.asked["relogin_sec"])
            while time.monotonic() < until and not stop.exists():
                self.call("GET", "/api/v1/players?limit=10", token=tokens["access_token"])
                self.call("GET", "/api/v1/auth/me", token=tokens["access_token"])
                time.sleep(0.1)


def main() -> None:
    asked = json.loads(sys.argv[1])
    load = Load(asked)
    stop = Path(asked["stop_file"])
    threads = [threading.Thread(target=load.client, args=(stop,)) for _ in range(int(asked["clients"]))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    report = {"requests": load.requests, "logins": load.logins, "failures": load.failures}
    Path(asked["report"]).write_text(json.dumps(report))


if __name__ == "__main__":
    main()
