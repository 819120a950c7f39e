"""Load metrics and alerts, computed by `domain.load` from the last weeks of sessions and wellness."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from psycopg import sql

from club_runtime.api import errors
from club_runtime.api.deps import AnyUser, ConnDep, Staff
from club_runtime.api.models import Output
from club_runtime.api.routes.players import visible_player
from club_runtime.db.pool import Conn
from club_runtime.domain import load

router = APIRouter(prefix="/api/v1", tags=["load"], responses=errors.COMMON_RESPONSES)

# Two texts of each query, for one player and for all: one text with `(%(player)s IS NULL OR
# player_id = %(player)s)` gets a generic plan once psycopg prepares it, and that plan cannot look
# the player up in an index: it read every player's attendance of the month (6.6 ms of PostgreSQL CPU
# per summary in bench/bench_api_rls.py) to keep one player's.
_LOADS = """
SELECT a.player_id, (s.starts_at AT TIME ZONE 'UTC')::date AS day, (a.minutes * a.rpe)::float8 AS load
FROM public.attendance a JOIN public.training_sessions s ON s.club_id = a.club_id AND s.id = a.session_id
WHERE a.rpe IS NOT NULL AND a.status = 'present' AND s.starts_at >= %(start)s AND s.starts_at < %(end)s
  {attendance_player}
UNION ALL
SELECT st.player_id, (m.kickoff AT TIME ZONE 'UTC')::date, (st.minutes * st.rpe)::float8
FROM public.match_stats st JOIN public.matches m ON m.club_id = st.club_id AND m.id = st.match_id
WHERE st.rpe IS NOT NULL AND m.kickoff >= %(start)s AND m.kickoff < %(end)s {stats_player}
"""
_WELLNESS = """
SELECT player_id, day, sleep_quality, fatigue, soreness, stress, mood, hrv_ms::float8 AS hrv_ms, resting_hr
FROM public.wellness_entries
WHERE day >= %(first)s AND day <= %(last)s {wellness_player}
"""


def _player_filter(one: bool, alias: str) -> sql.Composable:
    return sql.SQL("AND {}.player_id = %(player)s").format(sql.Identifier(alias)) if one else sql.SQL("")


_QUERIES = {
    one: (
        sql.SQL(_LOADS).format(
            attendance_player=_player_filter(one, "a"), stats_player=_player_filter(one, "st")
        ),
        sql.SQL(_WELLNESS).format(wellness_player=_player_filter(one, "wellness_entries")),
    )
    for one in (True, False)
}


class AlertOut(Output):
    kind: load.AlertKind
    message: str


class LoadOut(Output):
    player_id: uuid.UUID
    on: date
    acute_load: float
    chronic_load: float
    acwr: float | None
    monotony: float | None
    strain: float | None
    readiness: int | None
    alerts: list[AlertOut]


OnDay = Annotated[
    date | None, Query(ge=date(2000, 1, 1), le=date(2100, 1, 1), description="default: today (UTC)")
]


async def _reports(conn: Conn, on: date, player: uuid.UUID | None) -> dict[uuid.UUID, LoadOut]:
    end = datetime(on.year, on.month, on.day, tzinfo=UTC) + timedelta(days=1)
    start = end - timedelta(days=load.CHRONIC_DAYS)
    sessions: dict[uuid.UUID, list[tuple[date, float]]] = defaultdict(list)
    wellness: dict[uuid.UUID, dict[date, dict[str, Any]]] = defaultdict(dict)
    loads, wellness_query = _QUERIES[player is not None]
    cur = await conn.execute(loads, {"start": start, "end": end, "player": player})
    for row in await cur.fetchall():
        sessions[row["player_id"]].append((row["day"], row["load"]))
    first = on - timedelta(days=load.BASELINE_DAYS + load.READINESS_LOW_STREAK)
    cur = await conn.execute(wellness_query, {"first": first, "last": on, "player": player})
    for row in await cur.fetchall():
        wellness[row["player_id"]][row["day"]] = row
    out = {}
    for pid in sessions.keys() | wellness.keys():
        report = load.report(on, sessions.get(pid, []), wellness.get(pid, {}))
        out[pid] = LoadOut(
            player_id=pid,
            on=on,
            acute_load=report.acute_load,
            chronic_load=report.chronic_load,
            acwr=report.acwr,
            monotony=report.monotony,
            strain=report.strain,
            readiness=report.readiness,
            alerts=[AlertOut(kind=a.kind, message=a.message) for a in report.alerts],
        )
    return out


@router.get("/players/{player_id}/load", response_model=LoadOut)
async def player_load(player_id: uuid.UUID, user: AnyUser, conn: ConnDep, on: OnDay = None) -> LoadOut:
    await visible_player(conn, user, player_id)
    day = on or datetime.now(UTC).date()
    found = await _reports(conn, day, player_id)
    return found.get(player_id) or LoadOut(
        player_id=player_id,
        on=day,
        acute_load=0,
        chronic_load=0,
        acwr=None,
        monotony=None,
        strain=None,
        readiness=None,
        alerts=[],
    )


@router.get("/alerts", response_model=list[LoadOut])
async def alerts(_: Staff, conn: ConnDep, on: OnDay = None) -> list[LoadOut]:
    """Every player with at least one alert on that day."""
    found = await _reports(conn, on or datetime.now(UTC).date(), None)
    return sorted((r for r in found.values() if r.alerts), key=lambda r: str(r.player_id))
