"""How a reconcile step writes one of the Club's Secrets and remembers what it holds (the pods'
config hashes and later steps read `out.secrets`)."""

from __future__ import annotations

from typing import Any

from club_operator import kube
from club_operator.outcome import Outcome


def write(
    manifest: dict[str, Any], out: Outcome, keep: frozenset[str], current: dict[str, str] | None
) -> dict[str, str]:
    """Write the Secret where it differs from `current` (as just read); remember what it holds."""
    name = manifest["metadata"]["name"]
    data, written = kube.write_secret(manifest, current, keep=keep)
    if written:
        out.changed("secret", f"wrote Secret {name}")
    out.secrets[name] = data
    return data
