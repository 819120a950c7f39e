"""The API's service level objectives, per club, as multiwindow multi-burn-rate alerts (the SRE
workbook, chapter 5): an alert fires when the club spends its error budget fast over a long window
and is still spending it over a short one, so it fires quickly on a real outage and resets soon after
it ends.

- availability: 99.5 % of requests answered without a 5xx;
- latency: 95 % of requests answered within 500 ms (the runbook's "p95 under 500 ms", written as
  the share of fast requests so that it has a budget to burn; 0.5 s is a bucket of
  club_api_request_duration_seconds).

Probe and scrape routes are not user traffic and are left out. The ratios are recorded per club for
each window (`club:api_request_errors:ratio_rate5m` ...), so the alerts and dashboards read them
cheaply."""

from __future__ import annotations

from dataclasses import dataclass

from club_operator.monitoring.rules import Alert, Group, Record, Severity

BY = "namespace, club"
_NOT_USER_TRAFFIC = 'route!~"/healthz|/readyz|/metrics"'
LATENCY_THRESHOLD_SECONDS = "0.5"


@dataclass(frozen=True)
class BurnWindow:
    factor: float  # how many times faster than sustainable the budget is spent
    long: str
    short: str


FAST = (BurnWindow(14.4, "1h", "5m"), BurnWindow(6, "6h", "30m"))  # 2 % and 5 % of a 30-day budget
SLOW = (BurnWindow(3, "1d", "2h"), BurnWindow(1, "3d", "6h"))  # 10 % of it in a day or three


def _seconds(window: str) -> int:
    unit = {"m": 60, "h": 3600, "d": 86400}[window[-1]]
    return int(window[:-1]) * unit


WINDOWS = sorted({w for pair in (*FAST, *SLOW) for w in (pair.long, pair.short)}, key=_seconds)


@dataclass(frozen=True)
class Objective:
    name: str  # in alert names: ClubApi<name>FastBurn
    record: str  # the bad-events ratio, recorded as club:<record>:ratio_rate<window>
    objective: float  # the share of good events promised
    bad_ratio: str  # PromQL of the bad-events ratio over {window}
    what: str  # what a bad event is, for the descriptions

    @property
    def budget(self) -> float:
        return round(1 - self.objective, 6)

    def series(self, window: str) -> str:
        return f"club:{self.record}:ratio_rate{window}"


AVAILABILITY = Objective(
    name="Availability",
    record="api_request_errors",
    objective=0.995,
    bad_ratio=(
        f'sum by ({BY}) (rate(club_api_requests_total{{status_class="5xx", {_NOT_USER_TRAFFIC}}}[{{w}}]))\n'
        f"/\nsum by ({BY}) (rate(club_api_requests_total{{{_NOT_USER_TRAFFIC}}}[{{w}}]))"
    ),
    what="requests answered with a 5xx",
)
LATENCY = Objective(
    name="Latency",
    record="api_request_slow",
    objective=0.95,
    bad_ratio=(
        "1 - (\n"
        f"  sum by ({BY}) (rate(club_api_request_duration_seconds_bucket"
        f'{{le="{LATENCY_THRESHOLD_SECONDS}", {_NOT_USER_TRAFFIC}}}[{{w}}]))\n'
        "  /\n"
        f"  sum by ({BY}) (rate(club_api_request_duration_seconds_count{{{_NOT_USER_TRAFFIC}}}[{{w}}]))\n"
        ")"
    ),
    what=f"requests slower than {LATENCY_THRESHOLD_SECONDS} s",
)
OBJECTIVES = (AVAILABILITY, LATENCY)


def _threshold(objective: Objective, window: BurnWindow) -> str:
    return f"{round(window.factor * objective.budget, 6):g}"


def _burn_expr(objective: Objective, windows: tuple[BurnWindow, ...]) -> str:
    pairs = [
        f"(\n  {objective.series(w.long)} > {_threshold(objective, w)}\n"
        f"and\n  {objective.series(w.short)} > {_threshold(objective, w)}\n)"
        for w in windows
    ]
    return "\nor\n".join(pairs)


def _pairs(windows: tuple[BurnWindow, ...]) -> str:
    return ", ".join(f"{w.factor:g}x over {w.long} and {w.short}" for w in windows)


def recording_rules() -> Group:
    return Group(
        "club-platform.slo.records",
        [Record(o.series(w), o.bad_ratio.replace("{w}", w)) for o in OBJECTIVES for w in WINDOWS],
    )


def alert_rules() -> Group:
    rules: list[Alert] = []
    for o in OBJECTIVES:
        percent = f"{o.objective * 100:g} %"
        rules.append(
            Alert(
                f"ClubApi{o.name}FastBurn",
                _burn_expr(o, FAST),
                Severity.CRITICAL,
                summary=(
                    "Club {{ $labels.namespace }}/{{ $labels.club }} is spending its API "
                    f"{o.name.lower()} error budget fast"
                ),
                description=(
                    f"{o.what.capitalize()} are {{{{ $value | humanizePercentage }}}} of the club's API "
                    "traffic, "
                    f"burning the budget of its {percent} objective at {_pairs(FAST)}: "
                    "at this rate a 30-day budget is gone within days."
                ),
                for_="2m",
            )
        )
        rules.append(
            Alert(
                f"ClubApi{o.name}SlowBurn",
                _burn_expr(o, SLOW),
                Severity.WARNING,
                summary=(
                    "Club {{ $labels.namespace }}/{{ $labels.club }} is slowly spending its API "
                    f"{o.name.lower()} error budget"
                ),
                description=(
                    f"{o.what.capitalize()} are {{{{ $value | humanizePercentage }}}} of the club's API "
                    "traffic, "
                    f"above the budget of its {percent} objective at {_pairs(SLOW)}."
                ),
                for_="15m",
            )
        )
    return Group("club-platform.slo", rules)
