"""Is the operator still hearing from the API server? kopf's watch streams can stall silently (a
half-open connection): events stop arriving while the process looks healthy. The watchdog compares
the resourceVersion of every Club that the watch delivered with what a direct LIST returns; a Club
that stays newer on the server than in the watch for longer than the grace period means the stream
stalled, and the liveness probe then fails so that Kubernetes restarts the operator.

It also derives the gauges that need a view of every Club: clubs by condition, and clubs whose
latest generation has not been reconciled yet (the queue of pending reconciles). Pure bookkeeping;
the caller supplies the clock and the LIST."""

from __future__ import annotations

import fnmatch
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, str]


@dataclass
class Watchdog:
    grace_sec: float
    _seen: dict[Key, str] = field(default_factory=dict)
    _behind_since: dict[Key, float] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def saw(self, namespace: str, name: str, resource_version: str | None, *, deleted: bool = False) -> None:
        """Record an event the watch delivered."""
        with self._lock:
            key = (namespace, name)
            if deleted:
                self._seen.pop(key, None)
            elif resource_version:
                self._seen[key] = resource_version
            self._behind_since.pop(key, None)

    def stalled(self, listed: Iterable[dict[str, Any]], now: float) -> list[str]:
        """Clubs the watch has been behind on for longer than the grace period."""
        with self._lock:
            behind: set[Key] = set()
            for club in listed:
                meta = club["metadata"]
                key = (meta["namespace"], meta["name"])
                if self._seen.get(key) != meta.get("resourceVersion"):
                    behind.add(key)
                    self._behind_since.setdefault(key, now)
            for key in set(self._behind_since) - behind:
                del self._behind_since[key]
            return sorted(
                f"{ns}/{name}"
                for (ns, name), since in self._behind_since.items()
                if now - since > self.grace_sec
            )


def condition_counts(listed: Iterable[dict[str, Any]]) -> Counter[tuple[str, str]]:
    """How many Clubs have each (condition type, status)."""
    counts: Counter[tuple[str, str]] = Counter()
    for club in listed:
        for cond in (club.get("status") or {}).get("conditions") or []:
            counts[(cond["type"], cond["status"])] += 1
    return counts


def pending(listed: Iterable[dict[str, Any]]) -> int:
    """Clubs whose latest spec (generation) has not been reconciled yet."""
    return sum(
        1
        for club in listed
        if (club.get("status") or {}).get("observedGeneration") != club["metadata"].get("generation")
    )


def listed_namespaces(patterns: Iterable[str]) -> tuple[str, ...]:
    """Where the direct LIST looks for an operator started with these namespace patterns: the names
    themselves when every pattern is a plain name (an operator granted a Role in each of them may not
    list Clubs cluster-wide), else () for one cluster-wide LIST (globs and exclusions need it)."""
    patterns = tuple(patterns)
    plain = all(p and not any(c in p for c in "*?[!") for p in patterns)
    return patterns if plain else ()


def serves(namespace: str, patterns: Iterable[str]) -> bool:
    """Whether an operator started with these namespace patterns (kopf's: names or globs, `!glob` to
    exclude; none means every namespace) handles Clubs in `namespace`."""
    patterns = list(patterns)
    includes = [p for p in patterns if not p.startswith("!")]
    excludes = [p[1:] for p in patterns if p.startswith("!")]
    included = not includes or any(fnmatch.fnmatchcase(namespace, p) for p in includes)
    return included and not any(fnmatch.fnmatchcase(namespace, p) for p in excludes)
