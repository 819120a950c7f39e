"""Fixtures of the worker tests: generated source videos (made once per session) and a club
provisioned with the API helper's own migrations and `provision_club` (the club's own role)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from psycopg.conninfo import conninfo_to_dict

from club_devstack.stack import StackInfo
from club_runtime.db import migrate, tenancy
from tests.integration.worker.harness import Club, Sources, WorkerBed, make_sources


@pytest.fixture(scope="session")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Sources:
    return make_sources(tmp_path_factory.mktemp("sources"))


@pytest.fixture
def club(stack: StackInfo, database: str, bucket: str) -> Iterator[Club]:
    """A club provisioned by the API helper's own migrate + provision_club, with its role's DSN."""
    migrate.migrate(database)
    club_id = str(uuid.uuid4())
    role, password = f"club_{club_id[:8]}", uuid.uuid4().hex
    tenancy.provision_club(database, club_id, f"fc-{club_id[:6]}", role, password)
    dbname = conninfo_to_dict(database)["dbname"]
    yield Club(
        club_id, f"fc-{club_id[:6]}", stack.postgres.dsn(str(dbname), user=role, password=password), bucket
    )
    tenancy.drop_club(database, club_id, role)


@pytest.fixture
def bed(stack: StackInfo, club: Club, s3: Any, redis_url: str, sources: Sources, tmp_path: Path) -> WorkerBed:
    return WorkerBed(stack, club, s3, redis_url, sources, tmp_path)
