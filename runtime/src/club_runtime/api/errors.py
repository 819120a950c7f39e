"""Error responses: one shape (`{"detail": "..."}`), and database errors translated into clear 4xx.

A statement refused by a constraint rolls its transaction back, so a 4xx here has written nothing.
A server the request needs being unreachable (PostgreSQL down or restarting, no pooled connection
within the pool's timeout, Redis down) is a 503 with Retry-After, not a 500: the request can be
sent again as it is once the server is back."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.responses import JSONResponse
from psycopg import errors
from pydantic import BaseModel

from club_runtime.redis_client import UNAVAILABLE as REDIS_UNAVAILABLE


class ErrorOut(BaseModel):
    detail: str


class FieldError(BaseModel):
    """One refused field: where it is (`["body", "birth_date"]`), what is wrong, and the error type."""

    loc: list[str | int]
    msg: str
    type: str


class InvalidOut(BaseModel):
    """A 422: the refused fields, or one sentence when the whole request is refused."""

    detail: str | list[FieldError]


def _doc(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# Declared on every router so that the OpenAPI document tells clients (and the fuzzer) every answer.
COMMON_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _doc("The body cannot be decoded (not UTF-8 text)"),
    401: _doc("Missing, invalid or expired token"),
    403: _doc("The user's role may not do this"),
    404: _doc("No such record in this club"),
    409: _doc("Conflicts with an existing record"),
    422: {"model": InvalidOut, "description": "The request is invalid"},
    503: _doc("A server the request needs (database, queue) is unavailable; retry after Retry-After"),
}

RETRY_AFTER_SEC = 5


def unauthorized(message: str) -> HTTPException:
    return HTTPException(status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"})


def forbidden(message: str = "your role may not do this") -> HTTPException:
    return HTTPException(status.HTTP_403_FORBIDDEN, message)


def not_found(what: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"{what} not found")


def unprocessable(message: str) -> HTTPException:
    return HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, message)


_KEY_COLUMNS = re.compile(r"^Key \(([^)]*)\)")


def _key_fields(exc: errors.IntegrityError) -> str:
    """The request fields a unique or foreign key names (`team_id`), from PostgreSQL's detail line
    (`Key (club_id, team_id)=(...)`); the values in that line are not repeated."""
    found = _KEY_COLUMNS.match(exc.diag.message_detail or "")
    columns = [c.strip() for c in found.group(1).split(",")] if found else []
    return ", ".join(c for c in columns if c != "club_id")


def _constraint_message(exc: errors.IntegrityError) -> str:
    diag = exc.diag
    where = f" ({diag.constraint_name})" if diag.constraint_name else ""
    fields = _key_fields(exc)
    if isinstance(exc, errors.UniqueViolation):
        return f"a record with the same {fields} already exists" if fields else f"a duplicate record{where}"
    if isinstance(exc, errors.ForeignKeyViolation):
        if fields:
            return f"{fields}: no such record in this club"
        return f"a referenced record does not exist in this club{where}"
    if isinstance(exc, errors.CheckViolation):
        return f"a value is out of range{where}"
    return f"the record is invalid{where}"


async def _integrity(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.IntegrityError)  # noqa: S101 - registered for that class only
    code = status.HTTP_409_CONFLICT if isinstance(exc, errors.UniqueViolation) else 422
    return JSONResponse({"detail": _constraint_message(exc)}, status_code=code)


async def _data(_: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "a value cannot be stored: out of range or malformed"}, status_code=422)


def unavailable(what: str) -> JSONResponse:
    return JSONResponse(
        {"detail": f"the {what} could not serve the request (unavailable or timed out); retry later"},
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": str(RETRY_AFTER_SEC)},
    )


async def _database_unavailable(_: Request, exc: Exception) -> JSONResponse:
    # OperationalError: the connection failed or broke (psycopg_pool's PoolTimeout is one too).
    return unavailable("database")


async def _queue_unavailable(_: Request, exc: Exception) -> JSONResponse:
    return unavailable("job queue")


def install(app: FastAPI) -> None:
    app.add_exception_handler(errors.IntegrityError, _integrity)
    app.add_exception_handler(errors.DataError, _data)
    app.add_exception_handler(errors.OperationalError, _database_unavailable)
    for error in REDIS_UNAVAILABLE:
        app.add_exception_handler(error, _queue_unavailable)
