"""How a backup command reports a library's error: its class and the first line of its message
(PostgreSQL's and botocore's first lines name what failed, never a credential)."""

from __future__ import annotations


def describe(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{exc.__class__.__name__}: {first}" if first else exc.__class__.__name__
