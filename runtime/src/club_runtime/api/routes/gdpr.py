"""GDPR: export everything held about one player as JSON, and erase it.

Export: for owners and admins (the club answers data-subject requests), the player, or their parent.
Injuries (health data) are included only for the player themself or medical staff; the export says so.
Erasure (owners and admins): the player's row goes, and with it (by cascade) attendance, wellness,
match statistics and injuries; the player's own accounts are deleted, parents' links are cut.

Media: the schema links no object to a player (a video belongs to the club, not to a player; no
photo or document is stored), so erasure has no object to remove. A video showing the player is
erased with `DELETE /api/v1/videos/{id}`, which removes its source and every output (`videos`)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, status
from psycopg.rows import dict_row

from club_runtime.api import errors
from club_runtime.api.deps import AnyUser, ConnDep, Managers
from club_runtime.api.models import Output
from club_runtime.api.routes.players import visible_player
from club_runtime.core import roles
from club_runtime.db import repo

router = APIRouter(prefix="/api/v1/players", tags=["gdpr"], responses=errors.COMMON_RESPONSES)

# table -> columns exported (never password hashes or lockout state).
_RELATED: dict[str, str] = {
    "attendance": "SELECT session_id, status, minutes, rpe FROM public.attendance WHERE player_id = %s",
    "wellness_entries": "SELECT day, sleep_quality, fatigue, soreness, stress, mood, "
    "hrv_ms::float8 AS hrv_ms, "
    "resting_hr FROM public.wellness_entries WHERE player_id = %s ORDER BY day",
    "match_stats": "SELECT match_id, minutes, goals, yellow_cards, red_card, rating::float8 AS rating, rpe "
    "FROM public.match_stats WHERE player_id = %s",
    "accounts": "SELECT id, email, full_name, role, created_at FROM public.users WHERE player_id = %s",
}
_INJURIES = (
    "SELECT occurred_on, body_part, severity, description, expected_return, resolved_on "
    "FROM public.injuries WHERE player_id = %s ORDER BY occurred_on"
)


class PlayerExport(Output):
    exported_at: datetime
    player: dict[str, Any]
    attendance: list[dict[str, Any]]
    wellness_entries: list[dict[str, Any]]
    match_stats: list[dict[str, Any]]
    accounts: list[dict[str, Any]]
    injuries: list[dict[str, Any]] | None
    medical_records_included: bool


@router.get("/{player_id}/export", response_model=PlayerExport)
async def export_player(player_id: uuid.UUID, user: AnyUser, conn: ConnDep) -> PlayerExport:
    if user.role not in roles.MANAGERS | roles.PLAYER_BOUND | roles.MEDICAL:
        raise errors.forbidden("exports are for owners, admins, medical staff, the player and their parent")
    player = await visible_player(conn, user, player_id)
    sections: dict[str, list[dict[str, Any]]] = {}
    for name, query in (*_RELATED.items(), ("injuries", _INJURIES)):
        if name == "injuries" and not user.may_see_medical(player_id):
            continue
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(query, [player_id])
            sections[name] = await cur.fetchall()
    medical = "injuries" in sections
    return PlayerExport(
        exported_at=datetime.now(UTC),
        player={k: v for k, v in player.items() if k != "club_id"},
        attendance=sections["attendance"],
        wellness_entries=sections["wellness_entries"],
        match_stats=sections["match_stats"],
        accounts=sections["accounts"],
        injuries=sections.get("injuries"),
        medical_records_included=medical,
    )


@router.delete("/{player_id}", status_code=status.HTTP_204_NO_CONTENT)
async def erase_player(player_id: uuid.UUID, _: Managers, conn: ConnDep) -> None:
    if await repo.fetch_one(conn, "players", {"id": player_id}) is None:
        raise errors.not_found("player")
    await conn.execute("DELETE FROM public.users WHERE player_id = %s AND role = 'player'", [player_id])
    await repo.delete(conn, "players", {"id": player_id})
