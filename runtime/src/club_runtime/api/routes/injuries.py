"""Injuries: health data. Medical staff read and write them; a player reads their own; nobody else
(not coaches, not admins, not parents) sees them."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import Field

from club_runtime.api import errors
from club_runtime.api.deps import AnyUser, ConnDep, Medical, PageDep
from club_runtime.api.models import Input, Name, Output, PageOut, Text
from club_runtime.core import roles
from club_runtime.db import repo

router = APIRouter(prefix="/api/v1/injuries", tags=["injuries"], responses=errors.COMMON_RESPONSES)

Day = Annotated[date, Field(ge=date(1900, 1, 1), le=date(2100, 1, 1))]


class Severity(StrEnum):
    MINOR = "minor"
    MODERATE = "moderate"
    MAJOR = "major"


class InjuryCreate(Input):
    player_id: uuid.UUID
    occurred_on: Day
    body_part: Name
    severity: Severity
    description: Text = ""
    expected_return: Day | None = None
    resolved_on: Day | None = None


class InjuryUpdate(Input):
    body_part: Name | None = None
    severity: Severity | None = None
    description: Text | None = None
    expected_return: Day | None = None
    resolved_on: Day | None = None


class InjuryPublic(Output):
    id: uuid.UUID
    player_id: uuid.UUID
    occurred_on: date
    body_part: str
    severity: Severity
    description: str
    expected_return: date | None
    resolved_on: date | None
    created_at: datetime


@router.get("", response_model=PageOut[InjuryPublic])
async def list_injuries(
    user: AnyUser, conn: ConnDep, page: PageDep, player_id: Annotated[uuid.UUID | None, Query()] = None
) -> PageOut[InjuryPublic]:
    if user.role not in roles.MEDICAL:
        if (
            user.role != roles.Role.PLAYER
            or user.player_id is None
            or player_id not in (None, user.player_id)
        ):
            raise errors.forbidden("injuries are visible to medical staff and to the player concerned")
        player_id = user.player_id
    rows = await repo.fetch_page(
        conn,
        "injuries",
        where={"player_id": player_id},
        order_by=("occurred_on", "id"),
        limit=page.limit,
        offset=page.offset,
    )
    return PageOut[InjuryPublic].of([InjuryPublic.model_validate(r) for r in rows], page)


@router.post("", response_model=InjuryPublic, status_code=status.HTTP_201_CREATED)
async def create_injury(body: InjuryCreate, _: Medical, conn: ConnDep) -> InjuryPublic:
    return InjuryPublic.model_validate(await repo.insert(conn, "injuries", body.model_dump()))


@router.get("/{injury_id}", response_model=InjuryPublic)
async def get_injury(injury_id: uuid.UUID, user: AnyUser, conn: ConnDep) -> InjuryPublic:
    if user.role not in roles.MEDICAL and user.role != roles.Role.PLAYER:
        raise errors.forbidden("injuries are visible to medical staff and to the player concerned")
    row = await repo.fetch_one(conn, "injuries", {"id": injury_id})
    if row is None or not user.may_see_medical(row["player_id"]):
        raise errors.not_found("injury")
    return InjuryPublic.model_validate(row)


@router.patch("/{injury_id}", response_model=InjuryPublic)
async def update_injury(injury_id: uuid.UUID, body: InjuryUpdate, _: Medical, conn: ConnDep) -> InjuryPublic:
    row = await repo.update(conn, "injuries", {"id": injury_id}, body.model_dump(exclude_unset=True))
    if row is None:
        raise errors.not_found("injury")
    return InjuryPublic.model_validate(row)


@router.delete("/{injury_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_injury(injury_id: uuid.UUID, _: Medical, conn: ConnDep) -> None:
    if not await repo.delete(conn, "injuries", {"id": injury_id}):
        raise errors.not_found("injury")
