"""Matches and per-player match statistics (minutes, goals, cards, rating, RPE for the load)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status
from pydantic import Field

from club_runtime.api import errors
from club_runtime.api.deps import AnyUser, ConnDep, MatchWriters, PageDep
from club_runtime.api.models import Input, Name, Output, PageOut
from club_runtime.db import repo

router = APIRouter(prefix="/api/v1/matches", tags=["matches"], responses=errors.COMMON_RESPONSES)

Goals = Annotated[int, Field(ge=0, le=99)]


class MatchCreate(Input):
    opponent: Name
    home: bool
    kickoff: datetime
    team_id: uuid.UUID | None = None
    goals_for: Goals | None = None
    goals_against: Goals | None = None


class MatchUpdate(Input):
    opponent: Name | None = None
    home: bool | None = None
    kickoff: datetime | None = None
    team_id: uuid.UUID | None = None
    goals_for: Goals | None = None
    goals_against: Goals | None = None


class MatchPublic(Output):
    id: uuid.UUID
    opponent: str
    home: bool
    kickoff: datetime
    team_id: uuid.UUID | None
    goals_for: int | None
    goals_against: int | None


class StatIn(Input):
    player_id: uuid.UUID
    minutes: int = Field(ge=0, le=150)
    goals: Goals = 0
    yellow_cards: int = Field(default=0, ge=0, le=2)
    red_card: bool = False
    rating: float | None = Field(default=None, ge=0, le=10)
    rpe: int | None = Field(default=None, ge=0, le=10)


class StatPublic(Output):
    match_id: uuid.UUID
    player_id: uuid.UUID
    minutes: int
    goals: int
    yellow_cards: int
    red_card: bool
    rating: float | None
    rpe: int | None


@router.get("", response_model=PageOut[MatchPublic])
async def list_matches(
    _: AnyUser, conn: ConnDep, page: PageDep, team_id: Annotated[uuid.UUID | None, Query()] = None
) -> PageOut[MatchPublic]:
    rows = await repo.fetch_page(
        conn,
        "matches",
        where={"team_id": team_id},
        order_by=("kickoff", "id"),
        limit=page.limit,
        offset=page.offset,
    )
    return PageOut[MatchPublic].of([MatchPublic.model_validate(r) for r in rows], page)


@router.post("", response_model=MatchPublic, status_code=status.HTTP_201_CREATED)
async def create_match(body: MatchCreate, _: MatchWriters, conn: ConnDep) -> MatchPublic:
    return MatchPublic.model_validate(await repo.insert(conn, "matches", body.model_dump()))


@router.get("/{match_id}", response_model=MatchPublic)
async def get_match(match_id: uuid.UUID, _: AnyUser, conn: ConnDep) -> MatchPublic:
    row = await repo.fetch_one(conn, "matches", {"id": match_id})
    if row is None:
        raise errors.not_found("match")
    return MatchPublic.model_validate(row)


@router.patch("/{match_id}", response_model=MatchPublic)
async def update_match(match_id: uuid.UUID, body: MatchUpdate, _: MatchWriters, conn: ConnDep) -> MatchPublic:
    row = await repo.update(conn, "matches", {"id": match_id}, body.model_dump(exclude_unset=True))
    if row is None:
        raise errors.not_found("match")
    return MatchPublic.model_validate(row)


@router.delete("/{match_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_match(match_id: uuid.UUID, _: MatchWriters, conn: ConnDep) -> None:
    if not await repo.delete(conn, "matches", {"id": match_id}):
        raise errors.not_found("match")


@router.put("/{match_id}/stats", response_model=list[StatPublic])
async def record_stats(
    match_id: uuid.UUID, body: Annotated[list[StatIn], Field(max_length=60)], _: MatchWriters, conn: ConnDep
) -> list[StatPublic]:
    if await repo.fetch_one(conn, "matches", {"id": match_id}) is None:
        raise errors.not_found("match")
    rows = [
        await repo.upsert(
            conn, "match_stats", {"match_id": match_id, **s.model_dump()}, ("match_id", "player_id")
        )
        for s in body
    ]
    return [StatPublic.model_validate(r) for r in rows]


@router.get("/{match_id}/stats", response_model=list[StatPublic])
async def get_stats(match_id: uuid.UUID, _: AnyUser, conn: ConnDep) -> list[StatPublic]:
    if await repo.fetch_one(conn, "matches", {"id": match_id}) is None:
        raise errors.not_found("match")
    rows = await repo.fetch_page(
        conn, "match_stats", where={"match_id": match_id}, order_by=("player_id",), limit=200, offset=0
    )
    return [StatPublic.model_validate(r) for r in rows]
