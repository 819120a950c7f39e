"""Comparing a desired manifest with the live object: what decides between "nothing to do" and a
write. Pure.

The API server adds defaults and bookkeeping (status, managedFields, defaulted container fields),
so the question is whether every field the operator asked for already holds, not whether the two
objects are equal."""

from __future__ import annotations

from typing import Any

from club_operator.models import parse_quantity

# Fields the operator never owns, even when a builder fills them in.
_IGNORED_METADATA = {"resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"}


def holds(desired: Any, live: Any) -> bool:
    """Whether `live` carries every field of `desired` with the same value (dicts: subset; lists:
    same length, each element holding)."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        return all(
            holds(value, live.get(key)) for key, value in desired.items() if key not in _IGNORED_METADATA
        )
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(desired) == len(live)
            and all(holds(d, v) for d, v in zip(desired, live, strict=True))
        )
    return _same_scalar(desired, live)


def _same_scalar(desired: Any, live: Any) -> bool:
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, str) and isinstance(live, str) and desired != live:
        return _same_quantity(desired, live)
    return bool(desired == live)


def _same_quantity(desired: str, live: str) -> bool:
    """The API server stores quantities in canonical form ("1000m" comes back as "1")."""
    try:
        return parse_quantity(desired) == parse_quantity(live)
    except ValueError:
        return False
