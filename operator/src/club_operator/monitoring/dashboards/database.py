"""Database: a club's API connection pools against the connections its PostgreSQL role may open,
requests waiting for a connection, and the operator's tenant isolation probe (a cross-tenant read as
the club's role, which row-level security must answer with nothing)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from club_operator.monitoring.dashboards.panels import CLUB, RATE, Query, Row, board, club_variables, graph
from club_operator.monitoring.dashboards.panels import single as stat

UID = "club-database"


def _pool() -> Row:
    held = f"sum(club_db_pool_connections{{{CLUB}}})"
    limit = f"max(club_database_connection_limit{{{CLUB}}})"
    return Row(
        "Connections",
        [
            graph(
                "API pool connections by state",
                "Connections the club's API pods' pools hold, in use or idle.",
                "short",
                Query(f"sum by (state) (club_db_pool_connections{{{CLUB}}})", "{{state}}"),
            ),
            graph(
                "Connections against the role's limit",
                "What the API pools hold and may open, against the connections the club's role may "
                "open (spec.database.limits.connectionLimit).",
                "short",
                Query(held, "held by the API pools"),
                Query(f"sum(club_db_pool_max_connections{{{CLUB}}})", "the API pools' maximum"),
                Query(limit, "the role's limit"),
            ),
            graph(
                "Share of the connection limit held",
                "The API pools' share of the connections the club's role may open. "
                "ClubDatabaseConnectionsNearLimit counts every session of the club's busiest login at "
                "the server (workers and backup Jobs too), not the pools alone.",
                "percentunit",
                Query(f"{held}\n/\n{limit}", "held"),
            ),
            graph(
                "Requests waiting for a connection",
                "Requests the API pools had no free connection for. Above 0 for 5 minutes: "
                "ClubDatabasePoolExhausted.",
                "short",
                Query(f"sum(club_db_pool_requests_waiting{{{CLUB}}})", "waiting"),
            ),
        ],
    )


def _isolation() -> Row:
    return Row(
        "Tenant isolation (row-level security)",
        [
            stat(
                "Isolation verified",
                "1 when the operator's last probe of the club's tenant passed; 0 when it failed or "
                "could not run (ClubTenantIsolationProbeFailing).",
                "short",
                Query(f"max(club_operator_tenant_isolation_verified{{{CLUB}}})", "verified"),
            ),
            stat(
                "Time since the last probe",
                "How long ago the operator last probed the club's isolation.",
                "s",
                Query(
                    f"time() - max(club_operator_tenant_isolation_last_probe_timestamp_seconds{{{CLUB}}})",
                    "since the last probe",
                ),
            ),
            graph(
                "Isolation probes by result (every club)",
                "The operator's probes of every club: passed, failed, or could not run (error).",
                "ops",
                Query(f"sum by (result) (rate(club_operator_isolation_probes_total[{RATE}]))", "{{result}}"),
            ),
        ],
    )


def build() -> dashboard.Dashboard:
    return board(
        UID,
        "Club database",
        "A club's database connections and its tenant isolation.",
        club_variables(),
        [_pool(), _isolation()],
    )
