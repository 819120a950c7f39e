"""User roles and the groups of roles that routes allow."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    OWNER = "owner"
    ADMIN = "admin"
    COACH = "coach"
    ANALYST = "analyst"
    MEDICAL = "medical"
    PLAYER = "player"
    PARENT = "parent"


ALL = frozenset(Role)
MANAGERS = frozenset({Role.OWNER, Role.ADMIN})
STAFF = frozenset({Role.OWNER, Role.ADMIN, Role.COACH, Role.ANALYST, Role.MEDICAL})
COACHING = frozenset({Role.OWNER, Role.ADMIN, Role.COACH})
MATCH_WRITERS = frozenset({Role.OWNER, Role.ADMIN, Role.COACH, Role.ANALYST})
VIDEO_WRITERS = frozenset({Role.OWNER, Role.ADMIN, Role.COACH, Role.ANALYST})
# Health data (injuries) is for medical staff, and for the player it is about.
MEDICAL = frozenset({Role.MEDICAL})
# Roles tied to one player record: they see that record and nothing about other players.
PLAYER_BOUND = frozenset({Role.PLAYER, Role.PARENT})
