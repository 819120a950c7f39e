"""Shared shapes of the API's models: strict input (unknown fields are an error) and pages.

Input is validated by its model. Output read straight from the database can skip its model:
`page_response` serializes rows that hold exactly the public model's columns (`public_columns`), whose
types PostgreSQL already guarantees, in one pass, instead of validating a model per row and then
validating the page again against the route's response model (FastAPI does that for a returned
model), which cost a list route more CPU than its query. The response model stays the route's
documented shape, and a unit test keeps both serializations the same.

orjson writes the page, three times faster than pydantic's `to_json` on a page of 50 players and byte
for byte the same for the types rows hold (UUIDs, dates, datetimes with `Z` for UTC, Decimals as
strings); what it cannot write (an integer beyond 64 bits, a timedelta) goes to `to_json`. A float
NaN or infinity it writes as null, where `to_json` wrote JSON no parser reads."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

import orjson
from fastapi import Response
from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic_core import to_json

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
        return cls(
            items=items, limit=page.limit, offset=page.offset, next_offset=next_offset(len(items), page)
        )


def public_columns(model: type[BaseModel]) -> tuple[str, ...]:
    """The columns to select for rows returned as `model` without it: its fields, in order."""
    return tuple(model.model_fields)


def next_offset(count: int, page: Page) -> int | None:
    return page.offset + page.limit if count == page.limit else None


def page_response(rows: Sequence[Mapping[str, Any]], page: Page) -> Response:
    """A page of rows already in their public shape (selected with `public_columns`), serialized as
    `PageOut.of` would serialize them."""
    body = {
        "items": rows,
        "limit": page.limit,
        "offset": page.offset,
        "next_offset": next_offset(len(rows), page),
    }
    return Response(_json(body), media_type="application/json")


def _decimal(value: object) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError


def _json(body: object) -> bytes:
    try:
        return orjson.dumps(body, default=_decimal, option=orjson.OPT_UTC_Z)
    except orjson.JSONEncodeError:
        return to_json(body)
