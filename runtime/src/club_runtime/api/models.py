"""Shared shapes of the API's models: strict input (unknown fields are an error) and pages."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, StringConstraints

from club_runtime.api.deps import Page

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Email = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, to_lower=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
    ),
]
Text = Annotated[str, StringConstraints(max_length=4000)]


class Input(BaseModel):
    """Base of every request body: unknown or misspelt fields are rejected, not ignored."""

    model_config = ConfigDict(extra="forbid")


class Output(BaseModel):
    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class PageOut(BaseModel, Generic[T]):
    items: list[T]
    limit: int
    offset: int
    next_offset: int | None

    @classmethod
    def of(cls, items: list[T], page: Page) -> PageOut[T]:
        more = len(items) == page.limit
        next_offset = page.offset + page.limit if more else None
        return cls(items=items, limit=page.limit, offset=page.offset, next_offset=next_offset)
