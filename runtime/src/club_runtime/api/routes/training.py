"""Training sessions with attendance and RPE, and daily wellness entries.

Coaching staff plan sessions and record attendance; a session's load for a player is minutes x RPE.
A player records their own wellness; staff may record it for anyone and read everyone's."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import Field

from club_runtime.api import errors
from club_runtime.api.deps import AnyUser, Coaching, ConnDep, PageDep, Staff
from club_runtime.api.models import Input, Name, Output, PageOut
from club_runtime.core import roles
from club_runtime.db import repo

router = APIRouter(prefix="/api/v1", tags=["training"], responses=errors.COMMON_RESPONSES)

Scale = Annotated[int, Field(ge=1, le=5)]


class AttendanceStatus(StrEnum):
    PRESENT = "present"
    ABSENT = "absent"
    INJURED = "injured"
    EXCUSED = "excused"


class SessionCreate(Input):
    title: Name
    starts_at: datetime
    duration_min: int = Field(ge=1, le=600)
    team_id: uuid.UUID | None = None


class SessionUpdate(Input):
    title: Name | None = None
    starts_at: datetime | None = None
    duration_min: int | None = Field(default=None, ge=1, le=600)
    team_id: uuid.UUID | None = None


class SessionPublic(Output):
    id: uuid.UUID
    title: str
    starts_at: datetime
    duration_min: int
    team_id: uuid.UUID | None


class AttendanceIn(Input):
    player_id: uuid.UUID
    status: AttendanceStatus
    minutes: int = Field(default=0, ge=0, le=600)
    rpe: int | None = Field(default=None, ge=0, le=10)


class AttendancePublic(Output):
    session_id: uuid.UUID
    player_id: uuid.UUID
    status: AttendanceStatus
    minutes: int
    rpe: int | None
    load: int | None


class WellnessIn(Input):
    player_id: uuid.UUID | None = Field(default=None, description="defaults to the signed-in player")
    day: date = Field(ge=date(2000, 1, 1), le=date(2100, 1, 1))
    sleep_quality: Scale
    fatigue: Scale
    soreness: Scale
    stress: Scale
    mood: Scale
    hrv_ms: float | None = Field(default=None, gt=0, le=500)
    resting_hr: int | None = Field(default=None, ge=20, le=250)


class WellnessPublic(Output):
    id: uuid.UUID
    player_id: uuid.UUID
    day: date
    sleep_quality: int
    fatigue: int
    soreness: int
    stress: int
    mood: int
    hrv_ms: float | None
    resting_hr: int | None


def _attendance(row: repo.Row) -> AttendancePublic:
    load = row["minutes"] * row["rpe"] if row["rpe"] is not None else None
    return AttendancePublic.model_validate({**row, "load": load})


@router.get("/sessions", response_model=PageOut[SessionPublic])
async def list_sessions(
    _: Staff, conn: ConnDep, page: PageDep, team_id: Annotated[uuid.UUID | None, Query()] = None
) -> PageOut[SessionPublic]:
    rows = await repo.fetch_page(
        conn,
        "training_sessions",
        where={"team_id": team_id},
        order_by=("starts_at", "id"),
        limit=page.limit,
        offset=page.offset,
    )
    return PageOut[SessionPublic].of([SessionPublic.model_validate(r) for r in rows], page)


@router.post("/sessions", response_model=SessionPublic, status_code=status.HTTP_201_CREATED)
async def create_session(body: SessionCreate, _: Coaching, conn: ConnDep) -> SessionPublic:
    return SessionPublic.model_validate(await repo.insert(conn, "training_sessions", body.model_dump()))


@router.get("/sessions/{session_id}", response_model=SessionPublic)
async def get_session(session_id: uuid.UUID, _: Staff, conn: ConnDep) -> SessionPublic:
    row = await repo.fetch_one(conn, "training_sessions", {"id": session_id})
    if row is None:
        raise errors.not_found("session")
    return SessionPublic.model_validate(row)


@router.patch("/sessions/{session_id}", response_model=SessionPublic)
async def update_session(
    session_id: uuid.UUID, body: SessionUpdate, _: Coaching, conn: ConnDep
) -> SessionPublic:
    row = await repo.update(
        conn, "training_sessions", {"id": session_id}, body.model_dump(exclude_unset=True)
    )
    if row is None:
        raise errors.not_found("session")
    return SessionPublic.model_validate(row)


@router.delete("/sessions/{session_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_session(session_id: uuid.UUID, _: Coaching, conn: ConnDep) -> None:
    if not await repo.delete(conn, "training_sessions", {"id": session_id}):
        raise errors.not_found("session")


@router.put("/sessions/{session_id}/attendance", response_model=list[AttendancePublic])
async def record_attendance(
    session_id: uuid.UUID,
    body: Annotated[list[AttendanceIn], Field(max_length=200)],
    _: Coaching,
    conn: ConnDep,
) -> list[AttendancePublic]:
    if await repo.fetch_one(conn, "training_sessions", {"id": session_id}) is None:
        raise errors.not_found("session")
    rows = [
        await repo.upsert(
            conn, "attendance", {"session_id": session_id, **entry.model_dump()}, ("session_id", "player_id")
        )
        for entry in body
    ]
    return [_attendance(r) for r in rows]


@router.get("/sessions/{session_id}/attendance", response_model=list[AttendancePublic])
async def get_attendance(session_id: uuid.UUID, _: Staff, conn: ConnDep) -> list[AttendancePublic]:
    if await repo.fetch_one(conn, "training_sessions", {"id": session_id}) is None:
        raise errors.not_found("session")
    rows = await repo.fetch_page(
        conn, "attendance", where={"session_id": session_id}, order_by=("player_id",), limit=500, offset=0
    )
    return [_attendance(r) for r in rows]


@router.post("/wellness", response_model=WellnessPublic, status_code=status.HTTP_201_CREATED)
async def record_wellness(body: WellnessIn, user: AnyUser, conn: ConnDep) -> WellnessPublic:
    values = body.model_dump()
    if user.role in roles.STAFF:
        if body.player_id is None:
            raise errors.unprocessable("player_id is required when staff record wellness")
    elif (
        user.role == roles.Role.PLAYER
        and user.player_id is not None
        and body.player_id in (None, user.player_id)
    ):
        values["player_id"] = user.player_id
    else:
        raise errors.forbidden("a player records only their own wellness")
    row = await repo.upsert(conn, "wellness_entries", values, ("player_id", "day"))
    return WellnessPublic.model_validate(row)


@router.get("/wellness", response_model=PageOut[WellnessPublic])
async def list_wellness(
    user: AnyUser, conn: ConnDep, page: PageDep, player_id: Annotated[uuid.UUID | None, Query()] = None
) -> PageOut[WellnessPublic]:
    if user.is_player_bound():
        if user.player_id is None or player_id not in (None, user.player_id):
            raise errors.forbidden("you may read only your own wellness entries")
        player_id = user.player_id
    rows = await repo.fetch_page(
        conn,
        "wellness_entries",
        where={"player_id": player_id},
        order_by=("day", "id"),
        limit=page.limit,
        offset=page.offset,
    )
    return PageOut[WellnessPublic].of([WellnessPublic.model_validate(r) for r in rows], page)
