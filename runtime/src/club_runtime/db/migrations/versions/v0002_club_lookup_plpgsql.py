"""The club lookup behind every policy, `club_id_for_role`, in PL/pgSQL instead of SQL.

Every tenant table's policy compares `club_id` with `(SELECT public.current_club_id())`: an init-plan,
evaluated once per statement. `current_club_id()` is inlined by the planner into
`club_id_for_role(current_user)`, but that function, SECURITY DEFINER, never is: as a SQL function its
body was parsed and planned again by every statement, which made the backend's CPU for a page of 50
players ~1.5x that of the same query filtered by `club_id` without RLS. A PL/pgSQL function keeps the
plan of its query for the session: ~1.15x.

Nothing else changes: the same signature, owner and privileges (CREATE OR REPLACE keeps them), the same
`search_path`, and the same answer: the club of `role` when the session user is a member of it, else
NULL. `tenant_roles` stays closed to club roles. (A scalar SQL function that reads a table cannot be
inlined by PostgreSQL at all, and a SECURITY DEFINER one never is, so "inlining" was not an option.)"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_PLPGSQL = """
CREATE OR REPLACE FUNCTION public.club_id_for_role(role name) RETURNS uuid
    LANGUAGE plpgsql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    RETURN (
        SELECT t.club_id FROM public.tenant_roles t
        WHERE t.role_name = club_id_for_role.role
          AND pg_catalog.pg_has_role(session_user, club_id_for_role.role, 'MEMBER')
    );
END
$$;
"""

_SQL = """
CREATE OR REPLACE FUNCTION public.club_id_for_role(role name) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.club_id FROM public.tenant_roles t
    WHERE t.role_name = role AND pg_catalog.pg_has_role(session_user, role, 'MEMBER')
$$;
"""


def upgrade() -> None:
    op.execute(_PLPGSQL)


def downgrade() -> None:
    op.execute(_SQL)
