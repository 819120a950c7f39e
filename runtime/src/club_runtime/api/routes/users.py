"""User accounts of the club, managed by its owner and admins. Only an owner may grant or change the
owner role."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import StringConstraints

from club_runtime.api import errors
from club_runtime.api.deps import ConnDep, CurrentUser, Managers, PageDep
from club_runtime.api.models import Email, Input, Name, PageOut
from club_runtime.api.routes.auth import UserPublic
from club_runtime.core import security
from club_runtime.core.roles import Role
from club_runtime.db import repo

router = APIRouter(prefix="/api/v1/users", tags=["users"], responses=errors.COMMON_RESPONSES)

NewPassword = Annotated[str, StringConstraints(min_length=12, max_length=256)]


class UserCreate(Input):
    email: Email
    password: NewPassword
    role: Role
    full_name: Name
    player_id: uuid.UUID | None = None


class UserUpdate(Input):
    full_name: Name | None = None
    role: Role | None = None
    active: bool | None = None
    player_id: uuid.UUID | None = None
    password: NewPassword | None = None


def _guard_owner(actor: CurrentUser, *roles: Role | str | None) -> None:
    if Role.OWNER in roles and actor.role != Role.OWNER:
        raise errors.forbidden("only an owner may grant or change the owner role")


@router.get("", response_model=PageOut[UserPublic])
async def list_users(
    _: Managers, conn: ConnDep, page: PageDep, role: Annotated[Role | None, Query()] = None
) -> PageOut[UserPublic]:
    rows = await repo.fetch_page(
        conn, "users", where={"role": role}, order_by=("email", "id"), limit=page.limit, offset=page.offset
    )
    return PageOut[UserPublic].of([UserPublic.model_validate(r) for r in rows], page)


@router.post("", response_model=UserPublic, status_code=status.HTTP_201_CREATED)
async def create_user(body: UserCreate, actor: Managers, conn: ConnDep) -> UserPublic:
    _guard_owner(actor, body.role)
    values: dict[str, Any] = body.model_dump(exclude={"password"})
    values["password_hash"] = await asyncio.to_thread(security.hash_password, body.password)
    return UserPublic.model_validate(await repo.insert(conn, "users", values))


@router.get("/{user_id}", response_model=UserPublic)
async def get_user(user_id: uuid.UUID, _: Managers, conn: ConnDep) -> UserPublic:
    row = await repo.fetch_one(conn, "users", {"id": user_id})
    if row is None:
        raise errors.not_found("user")
    return UserPublic.model_validate(row)


@router.patch("/{user_id}", response_model=UserPublic)
async def update_user(user_id: uuid.UUID, body: UserUpdate, actor: Managers, conn: ConnDep) -> UserPublic:
    row = await repo.fetch_one(conn, "users", {"id": user_id})
    if row is None:
        raise errors.not_found("user")
    _guard_owner(actor, row["role"], body.role)
    values: dict[str, Any] = body.model_dump(exclude_unset=True, exclude={"password"})
    if body.password is not None:
        values["password_hash"] = await asyncio.to_thread(security.hash_password, body.password)
    if values.keys() & {"password_hash", "role", "active"}:
        values["token_version"] = row["token_version"] + 1  # signs the user out everywhere
    updated = await repo.update(conn, "users", {"id": user_id}, values)
    return UserPublic.model_validate(updated)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: uuid.UUID, actor: Managers, conn: ConnDep) -> None:
    row = await repo.fetch_one(conn, "users", {"id": user_id})
    if row is None:
        raise errors.not_found("user")
    _guard_owner(actor, row["role"])
    if row["id"] == actor.id:
        raise errors.forbidden("you cannot delete your own account")
    await repo.delete(conn, "users", {"id": user_id})
