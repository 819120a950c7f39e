"""What every command gets: the cluster, its parsed arguments, the output format, a clock, and where
to print."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from club_operator.kubectl_club import render
from club_operator.kubectl_club.cluster import Cluster
from club_operator.kubectl_club.errors import PluginError

POLL_SEC = 1.0


def _now() -> datetime:
    return datetime.now(UTC)


def _note(status: Mapping[str, Any]) -> str:
    reason, message = status.get("reason"), status.get("message")
    if reason and message:
        return f" ({reason}: {message})"
    return f" ({reason or message})" if reason or message else ""


@dataclass
class Context:
    cluster: Cluster
    args: argparse.Namespace
    output: str | None = None
    now: Callable[[], datetime] = _now
    out: TextIO = field(default_factory=lambda: sys.stdout)

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    def document(self, document: Any) -> bool:
        """Print `document` when -o json|yaml asks for it; True when it did."""
        if self.output in ("json", "yaml"):
            self.say(render.dump(document, self.output))
            return True
        return False

    def wait_for_phase(
        self, kind: str, name: str, timeout: float, *, done: tuple[str, ...]
    ) -> Mapping[str, Any]:
        """Poll the object until its status.phase is one of `done`, printing each phase it passes.
        Returns the object then; a PluginError on timeout or when it is deleted meanwhile."""
        deadline = time.monotonic() + timeout
        seen: str | None = None
        while True:
            obj = self.cluster.get(kind, name)
            status = obj.get("status") or {}
            phase = str(status.get("phase") or "Pending")
            if phase != seen and self.output not in ("json", "yaml"):
                note = _note(status)
                self.say(f"{kind.lower()}.footballclub.io/{name} {phase}{note}")
                seen = phase
            if phase in done:
                return obj
            if time.monotonic() > deadline:
                raise PluginError(f"timed out after {timeout:g}s waiting for {kind} {name!r} (phase {phase})")
            time.sleep(POLL_SEC)
