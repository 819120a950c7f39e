"""Schema migrations (alembic, SQL operations only), callable from Python and from `club-runtime migrate`.

The operator runs `migrate(admin_dsn)` per club database with the migration owner's DSN; the API's
readiness check asks `migrations_at_head(dsn)` with the club role's DSN (the role may read
`alembic_version`, nothing more)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from sqlalchemy.pool import NullPool

from club_runtime.db import tenancy

_SCRIPTS = Path(__file__).parent / "migrations"


class MigrationError(RuntimeError):
    """The schema could not be brought to head."""


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    return config


def head_revisions() -> set[str]:
    return set(ScriptDirectory.from_config(_config()).get_heads())


def migrate(admin_dsn: str) -> None:
    """Bring the database to the newest schema, then re-grant every club role its privileges
    (a new table must be usable by clubs provisioned before it existed). Safe to run concurrently."""
    engine = sa.create_engine(
        "postgresql+psycopg://", creator=lambda: psycopg.connect(admin_dsn), poolclass=NullPool
    )
    try:
        with engine.connect() as connection:
            config = _config()
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
    except (sa.exc.SQLAlchemyError, psycopg.Error) as exc:
        raise MigrationError(f"migrating the database failed: {exc.__class__.__name__}") from exc
    finally:
        engine.dispose()
    with psycopg.connect(admin_dsn) as conn:
        tenancy.grant_all(conn)


def migrations_at_head(dsn: str) -> bool:
    """Whether the database's schema is the newest this code knows. False if it cannot be read."""
    try:
        with psycopg.connect(dsn, connect_timeout=5) as conn:
            rows = conn.execute("SELECT version_num FROM public.alembic_version").fetchall()
    except psycopg.Error:
        return False
    return {row[0] for row in rows} == head_revisions()


def lineage(revision: str) -> list[str] | None:
    """`revision` and every revision before it, newest first; None when this runtime's migrations do
    not know `revision` (a schema newer than this code)."""
    script = ScriptDirectory.from_config(_config())
    try:
        return [r.revision for r in script.iterate_revisions(revision, "base")]
    except RevisionError:
        return None
