"""The Football Club Platform schema, with row-level security tied to the database role.

Revision ID: 0001
Revises:

`tenant_roles` maps each club's login role to its club. `club_id_for_role` (SECURITY DEFINER) reads it
only for a role the session user is a member of, so a club role learns nothing about other roles;
`current_club_id()` asks it for `current_user`. Every tenant table's policy compares `club_id` with
`(SELECT current_club_id())` (an init-plan: evaluated once per query, and usable as an index key).
No policy reads a session setting, so nothing a club session can SET changes what it sees.
Foreign keys between tenant tables include `club_id`, because referential checks bypass RLS.
"""

from __future__ import annotations

from alembic import op
from psycopg import sql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_FUNCTIONS = """
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE public.tenant_roles (
    role_name name PRIMARY KEY,
    club_id uuid NOT NULL UNIQUE
);
REVOKE ALL ON public.tenant_roles FROM PUBLIC;

CREATE FUNCTION public.club_id_for_role(role name) RETURNS uuid
    LANGUAGE sql STABLE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp
AS $$
    SELECT t.club_id FROM public.tenant_roles t
    WHERE t.role_name = role AND pg_catalog.pg_has_role(session_user, role, 'MEMBER')
$$;

CREATE FUNCTION public.current_club_id() RETURNS uuid
    LANGUAGE sql STABLE
AS $$ SELECT public.club_id_for_role(current_user) $$;

CREATE FUNCTION public.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp
AS $$ BEGIN NEW.updated_at := now(); RETURN NEW; END $$;
"""

_TABLES = """
CREATE TABLE public.clubs (
    club_id uuid PRIMARY KEY,
    slug text NOT NULL UNIQUE,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE public.seasons (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    name text NOT NULL,
    starts_on date NOT NULL,
    ends_on date NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (club_id, id),
    UNIQUE (club_id, name),
    CHECK (ends_on > starts_on)
);

CREATE TABLE public.teams (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    season_id uuid NULL,
    name text NOT NULL,
    category text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (club_id, id),
    FOREIGN KEY (club_id, season_id) REFERENCES public.seasons (club_id, id) ON DELETE SET NULL (season_id)
);

CREATE TABLE public.players (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    team_id uuid NULL,
    first_name text NOT NULL,
    last_name text NOT NULL,
    position text NOT NULL CHECK (position IN ('GK', 'DF', 'MF', 'FW')),
    preferred_foot text NOT NULL CHECK (preferred_foot IN ('left', 'right', 'both')),
    jersey_number int NULL CHECK (jersey_number BETWEEN 1 AND 99),
    birth_date date NOT NULL,
    guardian_name text NULL,
    guardian_email text NULL,
    guardian_phone text NULL,
    gdpr_consent boolean NOT NULL DEFAULT false,
    gdpr_consent_date date NULL,
    guardian_consent boolean NOT NULL DEFAULT false,
    retention_until date NULL,
    medical_clearance_until date NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (club_id, id),
    FOREIGN KEY (club_id, team_id) REFERENCES public.teams (club_id, id) ON DELETE SET NULL (team_id)
);
CREATE INDEX players_listing ON public.players (club_id, last_name, first_name, id);

CREATE TABLE public.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    email text NOT NULL CHECK (email = lower(email)),
    full_name text NOT NULL DEFAULT '',
    password_hash text NOT NULL,
    role text NOT NULL CHECK (role IN ('owner', 'admin', 'coach', 'analyst', 'medical', 'player', 'parent')),
    player_id uuid NULL,
    active boolean NOT NULL DEFAULT true,
    failed_logins int NOT NULL DEFAULT 0,
    locked_until timestamptz NULL,
    token_version int NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (club_id, email),
    FOREIGN KEY (club_id, player_id) REFERENCES public.players (club_id, id) ON DELETE SET NULL (player_id)
);

CREATE TABLE public.training_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    team_id uuid NULL,
    title text NOT NULL,
    starts_at timestamptz NOT NULL,
    duration_min int NOT NULL CHECK (duration_min BETWEEN 1 AND 600),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (club_id, id),
    FOREIGN KEY (club_id, team_id) REFERENCES public.teams (club_id, id) ON DELETE SET NULL (team_id)
);

CREATE TABLE public.attendance (
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    session_id uuid NOT NULL,
    player_id uuid NOT NULL,
    status text NOT NULL CHECK (status IN ('present', 'absent', 'injured', 'excused')),
    minutes int NOT NULL DEFAULT 0 CHECK (minutes BETWEEN 0 AND 600),
    rpe int NULL CHECK (rpe BETWEEN 0 AND 10),
    PRIMARY KEY (club_id, session_id, player_id),
    FOREIGN KEY (club_id, session_id) REFERENCES public.training_sessions (club_id, id) ON DELETE CASCADE,
    FOREIGN KEY (club_id, player_id) REFERENCES public.players (club_id, id) ON DELETE CASCADE
);

CREATE TABLE public.wellness_entries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    player_id uuid NOT NULL,
    day date NOT NULL,
    sleep_quality int NOT NULL CHECK (sleep_quality BETWEEN 1 AND 5),
    fatigue int NOT NULL CHECK (fatigue BETWEEN 1 AND 5),
    soreness int NOT NULL CHECK (soreness BETWEEN 1 AND 5),
    stress int NOT NULL CHECK (stress BETWEEN 1 AND 5),
    mood int NOT NULL CHECK (mood BETWEEN 1 AND 5),
    hrv_ms numeric NULL CHECK (hrv_ms > 0),
    resting_hr int NULL CHECK (resting_hr BETWEEN 20 AND 250),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (club_id, player_id, day),
    FOREIGN KEY (club_id, player_id) REFERENCES public.players (club_id, id) ON DELETE CASCADE
);

CREATE TABLE public.matches (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    team_id uuid NULL,
    opponent text NOT NULL,
    home boolean NOT NULL,
    kickoff timestamptz NOT NULL,
    goals_for int NULL CHECK (goals_for >= 0),
    goals_against int NULL CHECK (goals_against >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (club_id, id),
    FOREIGN KEY (club_id, team_id) REFERENCES public.teams (club_id, id) ON DELETE SET NULL (team_id)
);

CREATE TABLE public.match_stats (
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    match_id uuid NOT NULL,
    player_id uuid NOT NULL,
    minutes int NOT NULL CHECK (minutes BETWEEN 0 AND 150),
    goals int NOT NULL DEFAULT 0 CHECK (goals >= 0),
    yellow_cards int NOT NULL DEFAULT 0 CHECK (yellow_cards BETWEEN 0 AND 2),
    red_card boolean NOT NULL DEFAULT false,
    rating numeric(3, 1) NULL CHECK (rating BETWEEN 0 AND 10),
    rpe int NULL CHECK (rpe BETWEEN 0 AND 10),
    PRIMARY KEY (club_id, match_id, player_id),
    FOREIGN KEY (club_id, match_id) REFERENCES public.matches (club_id, id) ON DELETE CASCADE,
    FOREIGN KEY (club_id, player_id) REFERENCES public.players (club_id, id) ON DELETE CASCADE
);

CREATE TABLE public.injuries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    player_id uuid NOT NULL,
    occurred_on date NOT NULL,
    body_part text NOT NULL,
    severity text NOT NULL CHECK (severity IN ('minor', 'moderate', 'major')),
    description text NOT NULL DEFAULT '',
    expected_return date NULL,
    resolved_on date NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (club_id, player_id) REFERENCES public.players (club_id, id) ON DELETE CASCADE
);

CREATE TABLE public.videos (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    club_id uuid NOT NULL DEFAULT public.current_club_id() REFERENCES public.clubs ON DELETE CASCADE,
    title text NOT NULL,
    source_key text NOT NULL,
    content_type text NOT NULL DEFAULT 'application/octet-stream',
    size_bytes bigint NOT NULL DEFAULT 0,
    status text NOT NULL DEFAULT 'uploaded' CHECK (status IN ('uploaded', 'processing', 'ready', 'failed')),
    progress int NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 100),
    outputs jsonb NOT NULL DEFAULT '{}',
    error text NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
"""

# Every tenant table: name -> whether it has an updated_at column to keep current.
TENANT_TABLES: dict[str, bool] = {
    "clubs": False,
    "seasons": True,
    "teams": True,
    "players": True,
    "users": True,
    "training_sessions": True,
    "attendance": False,
    "wellness_entries": False,
    "matches": True,
    "match_stats": False,
    "injuries": True,
    "videos": True,
}


def _tenant_statements(table: str, touch: bool) -> list[sql.Composable]:
    ident = sql.Identifier("public", table)
    statements: list[sql.Composable] = [
        sql.SQL("REVOKE ALL ON {} FROM PUBLIC").format(ident),
        sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(ident),
        sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(ident),
        sql.SQL(
            "CREATE POLICY tenant_isolation ON {} "
            "USING (club_id = (SELECT public.current_club_id())) "
            "WITH CHECK (club_id = (SELECT public.current_club_id()))"
        ).format(ident),
    ]
    if touch:
        statements.append(
            sql.SQL(
                "CREATE TRIGGER touch_updated_at BEFORE UPDATE ON {} "
                "FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at()"
            ).format(ident)
        )
    return statements


def upgrade() -> None:
    op.execute(_FUNCTIONS)
    op.execute(_TABLES)
    op.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
    for table, touch in TENANT_TABLES.items():
        for statement in _tenant_statements(table, touch):
            op.execute(statement.as_string(None))


def downgrade() -> None:
    for table in reversed(list(TENANT_TABLES)):
        op.execute(
            sql.SQL("DROP TABLE IF EXISTS {} CASCADE").format(sql.Identifier("public", table)).as_string(None)
        )
    op.execute(
        "DROP FUNCTION IF EXISTS public.touch_updated_at(), public.current_club_id(), "
        "public.club_id_for_role(name)"
    )
    op.execute("DROP TABLE IF EXISTS public.tenant_roles")
