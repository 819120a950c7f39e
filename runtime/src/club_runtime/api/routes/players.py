"""Players. Staff see every player; a player (or a parent) sees only their own record. Minors need a
guardian's contact, and their data-processing consent needs the guardian's consent."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Self

from fastapi import APIRouter, Query, Response, status
from pydantic import Field, model_validator

from club_runtime.api import errors, models
from club_runtime.api.deps import (
    SIGNED_OUT,
    AnyUser,
    ClaimsDep,
    Coaching,
    ConnDep,
    CurrentUser,
    Page,
    PageDep,
)
from club_runtime.api.models import Email, Input, Name, Output, PageOut
from club_runtime.core import roles, security
from club_runtime.db import repo, user_pages
from club_runtime.db.pool import Conn

router = APIRouter(prefix="/api/v1/players", tags=["players"], responses=errors.COMMON_RESPONSES)

ADULT_AGE = 18


class Position(StrEnum):
    GK = "GK"
    DF = "DF"
    MF = "MF"
    FW = "FW"


class Foot(StrEnum):
    LEFT = "left"
    RIGHT = "right"
    BOTH = "both"


class PlayerFields(Input):
    first_name: Name
    last_name: Name
    position: Position
    preferred_foot: Foot
    birth_date: date = Field(ge=date(1900, 1, 1), le=date(2100, 1, 1))
    team_id: uuid.UUID | None = None
    jersey_number: int | None = Field(default=None, ge=1, le=99)
    guardian_name: Name | None = None
    guardian_email: Email | None = None
    guardian_phone: Annotated[str, Field(pattern=r"^\+?[0-9 ()-]{6,20}$")] | None = None
    gdpr_consent: bool = False
    gdpr_consent_date: date | None = None
    guardian_consent: bool = False
    retention_until: date | None = None
    medical_clearance_until: date | None = None

    def is_minor(self, today: date) -> bool:
        years = (
            today.year
            - self.birth_date.year
            - ((today.month, today.day) < (self.birth_date.month, self.birth_date.day))
        )
        return years < ADULT_AGE

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.gdpr_consent and self.gdpr_consent_date is None:
            raise ValueError("gdpr_consent_date is required when gdpr_consent is true")
        if self.is_minor(date.today()):
            if self.guardian_name is None or (self.guardian_email is None and self.guardian_phone is None):
                raise ValueError("a minor needs guardian_name and a guardian_email or guardian_phone")
            if self.gdpr_consent and not self.guardian_consent:
                raise ValueError("a minor's gdpr_consent needs guardian_consent")
        return self


class PlayerCreate(PlayerFields):
    pass


class PlayerUpdate(Input):
    first_name: Name | None = None
    last_name: Name | None = None
    position: Position | None = None
    preferred_foot: Foot | None = None
    birth_date: date | None = Field(default=None, ge=date(1900, 1, 1), le=date(2100, 1, 1))
    team_id: uuid.UUID | None = None
    jersey_number: int | None = Field(default=None, ge=1, le=99)
    guardian_name: Name | None = None
    guardian_email: Email | None = None
    guardian_phone: Annotated[str, Field(pattern=r"^\+?[0-9 ()-]{6,20}$")] | None = None
    gdpr_consent: bool | None = None
    gdpr_consent_date: date | None = None
    guardian_consent: bool | None = None
    retention_until: date | None = None
    medical_clearance_until: date | None = None


class PlayerPublic(Output):
    id: uuid.UUID
    first_name: str
    last_name: str
    position: Position
    preferred_foot: Foot
    birth_date: date
    team_id: uuid.UUID | None
    jersey_number: int | None
    guardian_name: str | None
    guardian_email: str | None
    guardian_phone: str | None
    gdpr_consent: bool
    gdpr_consent_date: date | None
    guardian_consent: bool
    retention_until: date | None
    medical_clearance_until: date | None
    created_at: datetime
    updated_at: datetime


_PUBLIC_COLUMNS = models.public_columns(PlayerPublic)


async def visible_player(conn: Conn, user: CurrentUser, player_id: uuid.UUID) -> repo.Row:
    """The player's row if this user may see it; otherwise 404, so that nothing tells it exists."""
    row = await repo.fetch_one(conn, "players", {"id": player_id}) if user.may_see_player(player_id) else None
    if row is None:
        raise errors.not_found("player")
    return row


_PAGE_SHAPE = user_pages.Shape(
    table="players", columns=_PUBLIC_COLUMNS, order_by=("last_name", "first_name", "id"), bound_column="id"
)


async def page_of_players(
    conn: Conn,
    claims: security.Claims,
    page: Page,
    team_id: uuid.UUID | None = None,
    position: Position | None = None,
) -> list[repo.Row] | None:
    """A page of players in their public shape, for the token's user (any active user of the club;
    a player or a parent gets only their own record); None when that user may no longer use the
    token (unknown, deactivated, signed out). One statement checks the user and reads the page."""
    found = await user_pages.fetch(
        conn,
        _PAGE_SHAPE,
        user_id=claims.user_id,
        token_version=claims.version,
        bound_roles=roles.PLAYER_BOUND,
        where={"team_id": team_id, "position": position},
        limit=page.limit,
        offset=page.offset,
    )
    return None if found is None else found.rows


@router.get("", response_model=PageOut[PlayerPublic])
async def list_players(
    claims: ClaimsDep,
    conn: ConnDep,
    page: PageDep,
    team_id: Annotated[uuid.UUID | None, Query()] = None,
    position: Annotated[Position | None, Query()] = None,
) -> Response:
    # api/fast_lists.py answers the well-formed requests of this route before FastAPI routes them;
    # this handler answers the others (and documents the route).
    rows = await page_of_players(conn, claims, page, team_id, position)
    if rows is None:
        raise errors.unauthorized(SIGNED_OUT)
    return models.page_response(rows, page)


@router.post("", response_model=PlayerPublic, status_code=status.HTTP_201_CREATED)
async def create_player(body: PlayerCreate, _: Coaching, conn: ConnDep) -> PlayerPublic:
    return PlayerPublic.model_validate(await repo.insert(conn, "players", body.model_dump()))


@router.get("/{player_id}", response_model=PlayerPublic)
async def get_player(player_id: uuid.UUID, user: AnyUser, conn: ConnDep) -> PlayerPublic:
    return PlayerPublic.model_validate(await visible_player(conn, user, player_id))


@router.patch("/{player_id}", response_model=PlayerPublic)
async def update_player(
    player_id: uuid.UUID, body: PlayerUpdate, user: Coaching, conn: ConnDep
) -> PlayerPublic:
    row = await visible_player(conn, user, player_id)
    changes = body.model_dump(exclude_unset=True)
    merged = {k: v for k, v in row.items() if k in PlayerFields.model_fields} | changes
    try:
        PlayerFields.model_validate(merged)
    except ValueError as exc:
        raise errors.unprocessable(str(exc)) from exc
    return PlayerPublic.model_validate(await repo.update(conn, "players", {"id": player_id}, changes))
