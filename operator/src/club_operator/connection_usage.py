"""How many database sessions a club holds against its connection limit: `club_database_connections`,
read after each reconcile from the server's pg_stat_activity as the admin.

PostgreSQL enforces spec.database.limits.connectionLimit per login role, on every session of it in
every database of the server: the API pods' pools, the workers, the backup Jobs, a person with the
club's DSN. So the figure is counted the way the limit is, from the server's own sessions, not from
what each kind of pod says it holds (the API pools' `club_db_pool_connections` leave out the
workers and the Jobs). A Club's sessions log in as its tenant role or one of its two rotation logins
(db_logins.py), each with the limit: the figure is the busiest of them, the one that is refused
first.

One query per server per CACHE_SEC, whatever the number of clubs: the answer holds every login's
count. A server that cannot answer leaves the club's last figure; nothing here fails a reconcile."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping

import pydantic

from club_operator import club_servers, db_logins, metrics, naming, pg_connections
from club_operator.club import ClubObject
from club_operator.config import OperatorSettings
from club_operator.database import Server
from club_operator.models import ClubSpec

log = logging.getLogger(__name__)

CACHE_SEC = 15.0
# Client sessions only (background workers have no role); the operator's own admin sessions are
# another role's and never counted for a club.
SESSIONS_BY_LOGIN = (
    "SELECT usename, count(*) FROM pg_stat_activity "
    "WHERE usename IS NOT NULL AND backend_type = 'client backend' GROUP BY usename"
)
_lock = threading.Lock()
_counts: dict[str, tuple[float, dict[str, int]]] = {}  # admin DSN -> (monotonic time read, login -> sessions)


def observe(club: ClubObject, settings: OperatorSettings) -> None:
    """Set the club's session count (the alert compares it with club_database_connection_limit)."""
    try:
        spec = ClubSpec.model_validate(club.spec)
    except pydantic.ValidationError:
        return
    if spec.suspend:
        return  # scaled to zero on purpose: no alert reads it
    names = naming.build_names(
        club.namespace, club.name, spec, settings.shared_database_name, provisioned_role=club.provisioned_role
    )
    try:
        server = club_servers.database_server(spec, club.namespace, settings)
        counts = sessions_by_login(server)
    except Exception as exc:  # a figure for an alert: never a reason for the reconcile to fail
        log.info("database sessions of %s/%s not read: %s", club.namespace, club.name, exc.__class__.__name__)
        return
    metrics.DATABASE_CONNECTIONS.labels(club.namespace, club.name).set(
        busiest(counts, db_logins.logins(names.role))
    )


def busiest(counts: Mapping[str, int], logins: Iterable[str]) -> int:
    """The most sessions any of the club's logins holds (0 when none holds any)."""
    return max((counts.get(login, 0) for login in logins), default=0)


def sessions_by_login(server: Server) -> dict[str, int]:
    """Client sessions on the server by login role, read at most once per CACHE_SEC."""
    now = time.monotonic()
    with _lock:
        cached = _counts.get(server.admin_dsn)
    if cached is not None and now - cached[0] < CACHE_SEC:
        return cached[1]
    with pg_connections.admin(server.admin()) as conn:
        rows = conn.execute(SESSIONS_BY_LOGIN).fetchall()
    counts = {str(login): int(count) for login, count in rows}
    with _lock:
        _counts[server.admin_dsn] = (now, counts)
    return counts
