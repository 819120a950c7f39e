"""Load metrics and alerts, computed by `domain.load` from the last weeks of sessions and wellness."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query

from club_runtime.api import errors
from club_runtime.api.deps import AnyUser, ConnDep, Staff
from club_runtime.api.models import Output
from club_runtime.api.routes.players import visible_player
from club_runtime.db.pool import Conn
from club_runtime.domain import load

router = APIRouter(prefix="/api/v1", tags=["load"], responses=errors.COMMON_RESPONSES)

_LOADS = """
SELECT a.player_id, (s.starts_at AT TIME ZONE 'UTC')::date AS day, (a.minutes * a.rpe)::float8 AS load
FROM public.attendance a JOIN public.training_sessions s ON s.club_id = a.club_id AND s.id = a.session_id
WHERE a.rpe IS NOT NULL AND a.status = 'present' AND s.starts_at >= %(start)s AND s.starts_at < %(end)s
  AND (%(player)s::uuid IS NULL OR a.player_id = %(player)s)
UNION ALL
SELECT st.player_id, (m.kickoff AT TIME ZONE 'UTC')::date, (st.minutes * st.rpe)::float8
FROM public.match_stats st JOIN public.matches m ON m.club_id = st.club_id AND m.id = st.match_id
WHERE st.rpe IS NOT NULL AND m.kickoff >= %(start)s AND m.kickoff < %(end)s
  AND (%(player)s::uuid IS NULL OR st.player_id = %(player)s)
"""
_WELLNESS = """
SELECT player_id, day, sleep_quality, fatigue, soreness, stress, mood, hrv_ms::float8 AS hrv_ms, resting_hr
FROM public.wellness_entries
WHERE day >= %(first)s AND day <= %(last)s AND (%(player)s::uuid IS NULL OR player_id = %(player)s)
"""


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
    cur = await conn.execute(_LOADS, {"start": start, "end": end, "player": player})
    for row in await cur.fetchall():
        sessions[row["player_id"]].append((row["day"], row["load"]))
    first = on - timedelta(days=load.BASELINE_DAYS + load.READINESS_LOW_STREAK)
    cur = await conn.execute(_WELLNESS, {"first": first, "last": on, "player": player})
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
