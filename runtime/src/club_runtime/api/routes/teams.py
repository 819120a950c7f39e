"""Seasons and teams. Every user of the club may read them; owners and admins manage seasons,
coaching staff manage teams."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Self

from fastapi import APIRouter, Query, status
from pydantic import model_validator

from club_runtime.api import errors
from club_runtime.api.deps import AnyUser, Coaching, ConnDep, Managers, PageDep
from club_runtime.api.models import Input, Name, Output, PageOut
from club_runtime.db import repo

router = APIRouter(prefix="/api/v1", tags=["teams"], responses=errors.COMMON_RESPONSES)


class SeasonCreate(Input):
    name: Name
    starts_on: date
    ends_on: date

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.ends_on <= self.starts_on:
            raise ValueError("ends_on must be after starts_on")
        return self


class SeasonUpdate(Input):
    name: Name | None = None
    starts_on: date | None = None
    ends_on: date | None = None


class SeasonPublic(Output):
    id: uuid.UUID
    name: str
    starts_on: date
    ends_on: date
    created_at: datetime


class TeamCreate(Input):
    name: Name
    category: Name
    season_id: uuid.UUID | None = None


class TeamUpdate(Input):
    name: Name | None = None
    category: Name | None = None
    season_id: uuid.UUID | None = None


class TeamPublic(Output):
    id: uuid.UUID
    name: str
    category: str
    season_id: uuid.UUID | None
    created_at: datetime


async def _get(conn: Any, table: str, what: str, key: uuid.UUID) -> repo.Row:
    row = await repo.fetch_one(conn, table, {"id": key})
    if row is None:
        raise errors.not_found(what)
    return row


@router.get("/seasons", response_model=PageOut[SeasonPublic])
async def list_seasons(_: AnyUser, conn: ConnDep, page: PageDep) -> PageOut[SeasonPublic]:
    rows = await repo.fetch_page(
        conn, "seasons", where={}, order_by=("starts_on", "id"), limit=page.limit, offset=page.offset
    )
    return PageOut[SeasonPublic].of([SeasonPublic.model_validate(r) for r in rows], page)


@router.post("/seasons", response_model=SeasonPublic, status_code=status.HTTP_201_CREATED)
async def create_season(body: SeasonCreate, _: Managers, conn: ConnDep) -> SeasonPublic:
    return SeasonPublic.model_validate(await repo.insert(conn, "seasons", body.model_dump()))


@router.get("/seasons/{season_id}", response_model=SeasonPublic)
async def get_season(season_id: uuid.UUID, _: AnyUser, conn: ConnDep) -> SeasonPublic:
    return SeasonPublic.model_validate(await _get(conn, "seasons", "season", season_id))


@router.patch("/seasons/{season_id}", response_model=SeasonPublic)
async def update_season(season_id: uuid.UUID, body: SeasonUpdate, _: Managers, conn: ConnDep) -> SeasonPublic:
    await _get(conn, "seasons", "season", season_id)
    row = await repo.update(conn, "seasons", {"id": season_id}, body.model_dump(exclude_unset=True))
    return SeasonPublic.model_validate(row)


@router.delete("/seasons/{season_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_season(season_id: uuid.UUID, _: Managers, conn: ConnDep) -> None:
    if not await repo.delete(conn, "seasons", {"id": season_id}):
        raise errors.not_found("season")


@router.get("/teams", response_model=PageOut[TeamPublic])
async def list_teams(
    _: AnyUser, conn: ConnDep, page: PageDep, season_id: Annotated[uuid.UUID | None, Query()] = None
) -> PageOut[TeamPublic]:
    rows = await repo.fetch_page(
        conn,
        "teams",
        where={"season_id": season_id},
        order_by=("name", "id"),
        limit=page.limit,
        offset=page.offset,
    )
    return PageOut[TeamPublic].of([TeamPublic.model_validate(r) for r in rows], page)


@router.post("/teams", response_model=TeamPublic, status_code=status.HTTP_201_CREATED)
async def create_team(body: TeamCreate, _: Coaching, conn: ConnDep) -> TeamPublic:
    return TeamPublic.model_validate(await repo.insert(conn, "teams", body.model_dump()))


@router.get("/teams/{team_id}", response_model=TeamPublic)
async def get_team(team_id: uuid.UUID, _: AnyUser, conn: ConnDep) -> TeamPublic:
    return TeamPublic.model_validate(await _get(conn, "teams", "team", team_id))


@router.patch("/teams/{team_id}", response_model=TeamPublic)
async def update_team(team_id: uuid.UUID, body: TeamUpdate, _: Coaching, conn: ConnDep) -> TeamPublic:
    await _get(conn, "teams", "team", team_id)
    row = await repo.update(conn, "teams", {"id": team_id}, body.model_dump(exclude_unset=True))
    return TeamPublic.model_validate(row)


@router.delete("/teams/{team_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_team(team_id: uuid.UUID, _: Coaching, conn: ConnDep) -> None:
    if not await repo.delete(conn, "teams", {"id": team_id}):
        raise errors.not_found("team")
