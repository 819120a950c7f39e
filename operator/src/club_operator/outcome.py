"""What a reconcile reports: conditions, changes made, status fields, errors, and the Deployments
whose rollout it waits for. Pure data, no I/O; status_writer.py turns it into the Club's status."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from club_operator.conditions import Condition, Reason, Type


@dataclass
class Outcome:
    conditions: list[Condition] = field(default_factory=list)
    changes: list[tuple[str, str]] = field(default_factory=list)  # (kind, what was written)
    fields: dict[str, Any] = field(default_factory=dict)
    temporary: list[str] = field(default_factory=list)
    permanent: str | None = None
    secrets: dict[str, dict[str, str]] = field(default_factory=dict)  # name -> data, as written or read
    # Only waiting for Deployments to roll out: name -> the generation whose rollout is awaited.
    rolling_out: dict[str, int] = field(default_factory=dict)

    def condition(self, type_: Type, ok: bool, reason: Reason, message: str) -> None:
        self.conditions.append(Condition(type_, ok, reason, message))

    def changed(self, kind: str, message: str) -> None:
        self.changes.append((kind, message))

    def failed(self, type_: Type, reason: Reason, message: str) -> None:
        self.condition(type_, False, reason, message)
        self.temporary.append(f"{type_}: {message}")

    @property
    def waits_only_for_rollout(self) -> bool:
        """Nothing left to do but wait for the Deployments: no error to retry, nothing wrong."""
        return bool(self.rolling_out) and not self.temporary and self.permanent is None
