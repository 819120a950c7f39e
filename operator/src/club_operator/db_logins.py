"""The logins a Club's database sessions use, and how its password rotation names them. Pure.

The Club's role (naming: `club_<namespace>_<name>`, or its digested form) is the tenant: the role
the policies map to the club (`tenant_roles`), which owns nothing. A Club provisioned before
rotation logs in as that role itself. Rotating the password moves the sessions to two login roles
of the Club's own that alternate, `<role>__a` and `<role>__b`: members of the tenant role that set
it at login (club_runtime.db.tenancy.provision_login), so a session runs as the tenant and the
policies see no difference. Each rotation gives the login not in use a new password and points the
Secret at it; the one it replaces keeps working until every consumer has moved, then is retired
(NOLOGIN, no password, its sessions ended). The first rotation retires the tenant role's own login.

The names keep naming.py's promise that no two Clubs derive the same one: a derived role never holds
a doubled separator followed by anything but 12 hex digits (plain names hold none; digested ones end
in "__" and the digest; the older rule's names hold none), so `<role>__a` is no Club's role and,
the role being injective, no other Club's login. A role too long for the suffix (63 bytes in all)
gets its start, a digest of the whole role and `_a` / `_b`: it ends in a letter after a hex digit
and "_", which neither a derived role nor a short login does.

A login's credential goes by `<login>:<password id>` in status and Events (never the password)."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

from club_operator import rotation

_PG_MAX = 63
_DIGEST_LEN = 12
SUFFIXES = ("a", "b")


def login_names(role: str) -> tuple[str, str]:
    """The Club's two login roles, for its tenant role `role`."""
    if len(role) + 3 <= _PG_MAX:
        return (f"{role}__a", f"{role}__b")
    digest = hashlib.sha256(role.encode()).hexdigest()[:_DIGEST_LEN]
    stem = role[: _PG_MAX - len(digest) - 4].rstrip("_")
    return (f"{stem}__{digest}_a", f"{stem}__{digest}_b")


def logins(role: str) -> tuple[str, str, str]:
    """Every role the Club's sessions may log in as: the tenant role itself (before its first
    rotation) and the two login roles."""
    return (role, *login_names(role))


def current_login(role: str, username: str | None) -> str:
    """The login the database Secret names, if it is one of the Club's; else the tenant role (a
    Secret without one, or with a name edited by hand: the operator never logs in as another's)."""
    return username if username in logins(role) else role


def next_login(role: str, current: str) -> str:
    """The login a rotation moves to: the one of the pair not in use (`a` from the tenant role)."""
    first, second = login_names(role)
    return second if current == first else first


def password_id(password: str) -> str:
    """12 hex digits of a keyed digest: names the password without revealing it."""
    return hashlib.sha256(b"club-database-password-id\0" + password.encode()).hexdigest()[:12]


def credential_id(login: str, password: str) -> str:
    """The id a login's credential goes by in status and Events."""
    return f"{login}:{password_id(password)}"


def login_of(credential: str) -> str:
    """The login a credential id names."""
    return credential.rsplit(":", 1)[0]


def live_ids(record: rotation.Record | None, active: str, can_login: Mapping[str, bool]) -> frozenset[str]:
    """The credentials that still log in, as the phase model counts them: the Secret's (`active`),
    and the record's others whose login is another one that may still log in (the server keeps
    a verifier, not the password: a login that may log in is taken to accept its last password)."""
    found = {active}
    if record is not None:
        for other in (record.kid, record.previous_kid):
            if other and login_of(other) != login_of(active) and can_login.get(login_of(other), False):
                found.add(other)
    return frozenset(found)


def strays(record: rotation.Record, active: str, can_login: Mapping[str, bool]) -> tuple[str, ...]:
    """Logins of the Club, other than the Secret's, that may log in although the rotation is settled
    on the Secret's credential: none of its credentials, to be retired."""
    if not (record.settled and record.kid == active):
        return ()
    return tuple(login for login, may in can_login.items() if may and login != login_of(active))
