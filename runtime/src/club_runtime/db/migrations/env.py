"""Alembic environment: migrations run on the connection `db.migrate` hands over, in one transaction,
under an advisory lock so that two operators migrating the same database wait for each other."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

MIGRATION_LOCK_KEY = 7_203_118_240_001


def run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, target_metadata=None, transactional_ddl=True)
    with context.begin_transaction():
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        context.run_migrations()


run()
