"""`models.page_response` (rows serialized without a model per row) writes the same JSON as the page
model it stands for."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

from pydantic_core import to_json

from club_runtime.api import models
from club_runtime.api.deps import Page
from club_runtime.api.models import PageOut
from club_runtime.api.routes.players import PlayerPublic


def _player(n: int) -> dict[str, object]:
    return {
        "id": uuid.uuid4(),
        "first_name": f"First{n}",
        "last_name": 'Müller "Quote" \\ </script>',
        "position": "GK",
        "preferred_foot": "left",
        "birth_date": date(2001, 2, 3),
        "team_id": uuid.uuid4() if n % 2 else None,
        "jersey_number": n,
        "guardian_name": None,
        "guardian_email": "a@b.test",
        "guardian_phone": None,
        "gdpr_consent": True,
        "gdpr_consent_date": date(2024, 5, 6),
        "guardian_consent": False,
        "retention_until": None,
        "medical_clearance_until": date(2027, 1, 1),
        "created_at": datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "updated_at": datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2))),
    }


def test_the_columns_are_the_public_fields() -> None:
    assert models.public_columns(PlayerPublic) == tuple(PlayerPublic.model_fields)
    assert set(_player(1)) == set(PlayerPublic.model_fields)


def test_a_page_serializes_as_the_page_model() -> None:
    for count, page in ((3, Page(limit=3, offset=6)), (2, Page(limit=50, offset=0)), (0, Page(50, 100))):
        rows = [_player(n) for n in range(count)]
        expected = PageOut[PlayerPublic].of([PlayerPublic.model_validate(r) for r in rows], page)
        got = models.page_response(rows, page)
        assert got.media_type == "application/json"
        assert bytes(got.body) == expected.model_dump_json().encode()
        assert json.loads(got.body)["next_offset"] == expected.next_offset


def test_values_beyond_the_players_columns_serialize_as_pydantic_does() -> None:
    row = {"amount": Decimal("1.50"), "big": Decimal("1E+2"), "huge": 2**70, "span": timedelta(seconds=5)}
    got = models.page_response([row], Page(limit=1, offset=0))
    assert bytes(got.body) == to_json({"items": [row], "limit": 1, "offset": 0, "next_offset": 1})
    # Without the integer orjson cannot write, the page is orjson's: Decimals still as pydantic's strings.
    row = {"amount": Decimal("1.50"), "big": Decimal("1E+2"), "at": datetime(2025, 1, 2, tzinfo=UTC)}
    got = models.page_response([row], Page(limit=2, offset=0))
    assert bytes(got.body) == to_json({"items": [row], "limit": 2, "offset": 0, "next_offset": None})
