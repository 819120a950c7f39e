"""API overview: a club's traffic by route and status class, its latency, and how fast it spends the
error budgets of its SLOs (slo.py: 99.5 % of requests without a 5xx, 95 % within 500 ms), from the
API pods' `club_api_*` series."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from club_operator.monitoring import slo
from club_operator.monitoring.dashboards.panels import (
    CLUB,
    RATE,
    Query,
    Row,
    board,
    club_variables,
    graph,
    ratio,
)
from club_operator.monitoring.dashboards.panels import single as stat

UID = "club-api-overview"
REQUESTS = "club_api_requests_total"
BUCKETS = "club_api_request_duration_seconds_bucket"
COUNT = "club_api_request_duration_seconds_count"
# Probes and scrapes are not user traffic: the SLOs leave them out (slo.py).
USERS = 'route!~"/healthz|/readyz|/metrics"'
BUDGET_WINDOW = "30d"


def _rate(metric: str, selector: str, window: str = RATE) -> str:
    return f"rate({metric}{{{selector}}}[{window}])"


def _bad_availability(window: str) -> str:
    return ratio(
        _rate(REQUESTS, f'{CLUB}, status_class="5xx", {USERS}', window),
        _rate(REQUESTS, f"{CLUB}, {USERS}", window),
    )


def _fast_share(window: str) -> str:
    fast = _rate(BUCKETS, f'{CLUB}, le="{slo.LATENCY_THRESHOLD_SECONDS}", {USERS}', window)
    every = _rate(COUNT, f"{CLUB}, {USERS}", window)
    return f"sum({fast})\n/\nsum({every})"


def _bad_latency(window: str) -> str:
    return f"1 - (\n{_fast_share(window)}\n)"


def _traffic() -> Row:
    return Row(
        "Traffic",
        [
            graph(
                "Requests per second by route and status class",
                "Every request the club's API pods answered, by route template and status class.",
                "reqps",
                Query(
                    f"sum by (route, status_class) ({_rate(REQUESTS, CLUB)})", "{{route}} {{status_class}}"
                ),
            ),
            graph(
                "5xx error ratio by route",
                "The share of each route's requests answered with a 5xx.",
                "percentunit",
                Query(
                    ratio(_rate(REQUESTS, f'{CLUB}, status_class="5xx"'), _rate(REQUESTS, CLUB), "route"),
                    "{{route}}",
                ),
            ),
            graph(
                "Sign-ins",
                "Password verifications (one per login attempt), failed logins, and refresh tokens "
                "presented again after use (their family is revoked: a stolen token, or a client bug).",
                "ops",
                Query(f"sum({_rate('club_api_password_verifications_total', CLUB)})", "login attempts"),
                Query(f"sum({_rate('club_api_login_failures_total', CLUB)})", "failed logins"),
                Query(f"sum({_rate('club_api_refresh_reuse_total', CLUB)})", "refresh tokens reused"),
            ),
        ],
    )


def _latency() -> Row:
    return Row(
        "Latency",
        [
            graph(
                "p95 latency by route",
                "95th percentile of the time the API took to answer, by route template.",
                "s",
                Query(
                    f"histogram_quantile(0.95, sum by (route, le) ({_rate(BUCKETS, CLUB)}))",
                    "{{route}}",
                ),
            ),
            graph(
                f"Requests answered within {slo.LATENCY_THRESHOLD_SECONDS} s",
                "The latency SLI: the share of user requests (probes and scrapes left out) answered "
                f"within {slo.LATENCY_THRESHOLD_SECONDS} s; the objective is "
                f"{slo.LATENCY.objective * 100:g} %.",
                "percentunit",
                Query(_fast_share(RATE), "within the threshold"),
            ),
        ],
    )


def _slo() -> Row:
    fast = slo.FAST[0]
    burns = [
        Query(f"({expr(window)}) / {objective.budget:g}", f"{objective.name.lower()} over {window}")
        for objective, expr in ((slo.AVAILABILITY, _bad_availability), (slo.LATENCY, _bad_latency))
        for window in (fast.long, fast.short)
    ]
    return Row(
        "Service level objectives",
        [
            graph(
                "Error budget burn rate",
                f"How many times faster than sustainable each objective's budget is spent. Above "
                f"{fast.factor:g} over both {fast.long} and {fast.short}, the fast-burn alert pages "
                "(ClubApiAvailabilityFastBurn, ClubApiLatencyFastBurn).",
                "x",
                *burns,
            ),
            stat(
                f"Error budget left ({BUDGET_WINDOW})",
                f"The share of each objective's {BUDGET_WINDOW} error budget not spent yet (negative: "
                "overspent).",
                "percentunit",
                *(
                    Query(f"1 - ({expr(BUDGET_WINDOW)}) / {objective.budget:g}", objective.name.lower())
                    for objective, expr in (
                        (slo.AVAILABILITY, _bad_availability),
                        (slo.LATENCY, _bad_latency),
                    )
                ),
                width=12,
            ),
        ],
    )


def build() -> dashboard.Dashboard:
    return board(
        UID,
        "Club API overview",
        "A club's API: requests, errors and latency by route, and its SLOs' error budgets.",
        club_variables(),
        [_traffic(), _latency(), _slo()],
    )
