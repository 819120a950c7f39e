"""All SQL the worker sends about videos. The connection is the club's own role, so row-level
security already limits every statement to the club's rows; statements are composed with
psycopg.sql only."""

from __future__ import annotations

import mimetypes
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

_SELECT = sql.SQL("SELECT id, club_id, source_key, status, progress, outputs FROM {} WHERE id = %s")
_SET_STATUS = sql.SQL("UPDATE {} SET status = %s, progress = %s, error = %s WHERE id = %s")
_SET_PROGRESS = sql.SQL("UPDATE {} SET progress = %s WHERE id = %s AND status = 'processing'")
_SET_OUTPUTS = sql.SQL("UPDATE {} SET outputs = %s WHERE id = %s")
_REGISTER = sql.SQL(
    "INSERT INTO {} (id, title, source_key, content_type, size_bytes) VALUES (%s, %s, %s, %s, %s) "
    "ON CONFLICT (id) DO NOTHING"
)
_TABLE = sql.Identifier("public", "videos")

Connection = psycopg.Connection[Any]


@dataclass(frozen=True)
class VideoRow:
    id: uuid.UUID
    club_id: uuid.UUID
    source_key: str
    status: str
    progress: int
    outputs: dict[str, Any]


def connect(dsn: str) -> psycopg.Connection[Any]:
    return psycopg.connect(dsn, autocommit=True, application_name="club-runtime-worker")


def get(conn: psycopg.Connection[Any], video_id: str) -> VideoRow | None:
    with conn.cursor(row_factory=dict_row) as cur:
        row = cur.execute(_SELECT.format(_TABLE), (video_id,)).fetchone()
    return None if row is None else VideoRow(**row)


def register(conn: Connection, video_id: str, *, title: str, source_key: str, size_bytes: int) -> None:
    """Record a video stored in the bucket by someone other than the API (a VideoJob); once."""
    conn.execute(
        _REGISTER.format(_TABLE), (video_id, title[:200], source_key, content_type(source_key), size_bytes)
    )


def content_type(key: str) -> str:
    return mimetypes.guess_type(key)[0] or "application/octet-stream"


def set_status(
    conn: psycopg.Connection[Any], video_id: str, status: str, *, progress: int, error: str | None = None
) -> bool:
    """Whether the video still exists (deleted meanwhile: nothing to write, and no more to upload)."""
    return conn.execute(_SET_STATUS.format(_TABLE), (status, progress, error, video_id)).rowcount > 0


def set_progress(conn: psycopg.Connection[Any], video_id: str, progress: int) -> None:
    conn.execute(_SET_PROGRESS.format(_TABLE), (progress, video_id))


def set_outputs(conn: psycopg.Connection[Any], video_id: str, outputs: dict[str, Any]) -> bool:
    """Whether the video still exists (see `set_status`)."""
    return conn.execute(_SET_OUTPUTS.format(_TABLE), (Jsonb(outputs), video_id)).rowcount > 0
