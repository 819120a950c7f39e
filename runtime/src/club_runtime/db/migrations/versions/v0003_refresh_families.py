"""Refresh token families: one row per login, holding the one refresh token that may be used next.

Revision ID: 0003
Revises: 0002

A login starts a family; each refresh token carries its family's id and its own id (`jti`).
Refreshing swaps `current_jti` for the new token's id in one compare-and-swap UPDATE, which consumes
the token presented; presenting a token of the family that is no longer current (one already used)
sets `revoked_at`, and from then on every token of the family is refused. Kept in PostgreSQL so that
every API replica of a club sees the same state.

A tenant table like the others: `club_id NOT NULL`, ENABLE and FORCE ROW LEVEL SECURITY, one policy
with USING and WITH CHECK tied to the club of the login role. Its foreign key to `users` includes
`club_id` (referential checks bypass RLS), which needs `users (club_id, id)` unique.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_UPGRADE = """
ALTER TABLE public.users ADD CONSTRAINT users_club_id_id_key UNIQUE (club_id, id);

CREATE TABLE public.refresh_families (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    user_id uuid NOT NULL,
    current_jti uuid NOT NULL,
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (club_id, user_id) REFERENCES public.users (club_id, id) ON DELETE CASCADE
);
CREATE INDEX refresh_families_user ON public.refresh_families (club_id, user_id);

REVOKE ALL ON public.refresh_families FROM PUBLIC;
ALTER TABLE public.refresh_families ENABLE ROW LEVEL SECURITY;
ALTER TABLE public.refresh_families FORCE ROW LEVEL SECURITY;
CREATE POLICY tenant_isolation ON public.refresh_families
    USING (club_id = (SELECT public.current_club_id()))
    WITH CHECK (club_id = (SELECT public.current_club_id()));
CREATE TRIGGER touch_updated_at BEFORE UPDATE ON public.refresh_families
    FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at();
"""

_DOWNGRADE = """
DROP TABLE IF EXISTS public.refresh_families;
ALTER TABLE public.users DROP CONSTRAINT IF EXISTS users_club_id_id_key;
"""


def upgrade() -> None:
    op.execute(_UPGRADE)


def downgrade() -> None:
    op.execute(_DOWNGRADE)
