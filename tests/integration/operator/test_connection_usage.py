"""club_database_connections (connection_usage.py): the operator counts a club's sessions on its
database server the way PostgreSQL enforces its connection limit, whoever opened them. Here they
are opened with the DSN the club's pods get (the Secret `<club>-database`), as a worker or a backup
Job would: no API pool reports them, the server does."""

from __future__ import annotations

from contextlib import ExitStack

import psycopg
from kubernetes import client as k8s

from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

SESSIONS = 4


def _connections(port: int, namespace: str, name: str) -> float | None:
    text = clubs.metrics_text(port)
    return clubs.metric_value(text, "club_database_connections", namespace=namespace, club=name)


def test_the_clubs_sessions_on_the_server_are_counted_whoever_holds_them(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    name = "pooled"
    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": "Pooled"}, name))
    clubs.ready_status(custom, namespace, name)
    port = club_operator.metrics_port
    before = clubs.wait_for(
        "the club's sessions counted",
        lambda: (value := _connections(port, namespace, name)) is not None and (value,),
    )[0]
    assert before < SESSIONS  # the club's pods run on kwok's nodes: nothing holds its sessions
    dsn = clubs.secret_data(core, namespace, f"{name}-database")["dsn"]
    with ExitStack() as held:
        for _ in range(SESSIONS):
            held.enter_context(psycopg.connect(dsn))
        clubs.wait_for(
            f"{SESSIONS} more sessions of the club counted",
            lambda: (_connections(port, namespace, name) or 0) >= before + SESSIONS,
            timeout=60,
        )
    clubs.wait_for(
        "the sessions closed no longer counted",
        lambda: (_connections(port, namespace, name) or 0) <= before,
        timeout=60,
    )
