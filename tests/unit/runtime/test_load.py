"""Load metrics against values computed by hand on a fixed data set."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest

from club_runtime.domain import load

ON = date(2024, 3, 28)


def day(n: int) -> date:
    """March n, 2024 (the 28-day window ending on ON is March 1..28)."""
    return date(2024, 3, n)


def fixed_sessions() -> list[tuple[date, float]]:
    """March 1-21: one 60-minute session at RPE 5 a day (300). March 22-28: two such sessions (600)
    on the 22nd, 24th, 26th and 28th, rest on the other days. Plus one session outside the window."""
    sessions = [(day(n), load.session_load(60, 5)) for n in range(1, 22)]
    for n in (22, 24, 26, 28):
        sessions += [(day(n), load.session_load(60, 5)), (day(n), load.session_load(30, 10))]
    sessions.append((day(1) - timedelta(days=1), 10_000.0))
    return sessions


def test_daily_loads_sum_sessions_per_day_and_ignore_days_outside_the_window() -> None:
    loads = load.daily_loads(fixed_sessions(), end=ON, days=28)
    assert loads == [300.0] * 21 + [600.0, 0.0, 600.0, 0.0, 600.0, 0.0, 600.0]


def test_acwr_monotony_strain_match_hand_computed_values() -> None:
    report = load.report(ON, fixed_sessions(), {})
    # acute mean 2400/7, chronic mean 8700/28 -> ratio 2400*4/8700
    assert report.acute_load == pytest.approx(2400 / 7)
    assert report.chronic_load == pytest.approx(8700 / 28)
    assert report.acwr == pytest.approx(9600 / 8700)
    # a week of 600 on 4 days and 0 on 3: mean/sd = sqrt(4/3)
    assert report.monotony == pytest.approx(math.sqrt(4 / 3))
    assert report.strain == pytest.approx(2400 * math.sqrt(4 / 3))
    assert report.alerts == []


def test_acwr_alerts_fire_outside_the_safe_band() -> None:
    spike = [(day(n), 300.0) for n in range(22, 29)]
    high = load.report(ON, spike, {})
    assert high.acwr == pytest.approx(300 / (2100 / 28))  # 4.0
    assert [a.kind for a in high.alerts] == [load.AlertKind.ACWR_HIGH]

    rest = [(day(n), 300.0) for n in range(1, 22)]
    low = load.report(ON, rest, {})
    assert low.acwr == 0
    assert [a.kind for a in low.alerts] == [load.AlertKind.ACWR_LOW]


def test_no_load_means_no_ratio_no_monotony_and_no_alert() -> None:
    report = load.report(ON, [], {})
    assert (report.acwr, report.monotony, report.strain, report.alerts) == (None, None, None, [])


def test_readiness_from_oriented_z_scores() -> None:
    baseline = [{"mood": m, "stress": s} for m, s in ((2, 1), (4, 3), (2, 1), (4, 3))]
    # mood 4: z=+1; stress 1 (lower is better): z=+1 -> 50 + 25 * 1
    assert load.readiness({"mood": 4, "stress": 1}, baseline) == 75
    # mood 3: z=0; stress 3: z=-1 -> 50 - 12.5 -> 37.5 -> 38
    assert load.readiness({"mood": 3, "stress": 3}, baseline) == 38
    # far outside the baseline clamps to the scale
    assert load.readiness({"mood": 40, "stress": -40}, baseline) == 100
    # too little history, or none with spread, scores nothing
    assert load.readiness({"mood": 4}, baseline[:2]) is None
    assert load.readiness({"mood": 4}, [{"mood": 3}] * 5) is None


def test_three_low_readiness_days_in_a_row_raise_an_alert() -> None:
    wellness: dict[date, dict[str, float | None]] = {
        day(n): {"mood": m} for n, m in zip(range(1, 5), (2, 4, 2, 4), strict=True)
    }
    wellness |= {day(5): {"mood": 2}, day(6): {"mood": 2}, day(7): {"mood": 2}}
    # day 5: z=-1 -> 25; day 6: baseline 2,4,2,4,2 (mean 2.8, sd sqrt(.96)) -> 29.6;
    # day 7: baseline mean 8/3, sd sqrt(8/9) -> 32.3
    assert [load.readiness_on(day(n), wellness) for n in (5, 6, 7)] == [25, 30, 32]
    report = load.report(day(7), [], wellness)
    assert report.readiness == 32
    assert [a.kind for a in report.alerts] == [load.AlertKind.READINESS_LOW_STREAK]
    # two low days are not yet a streak
    assert load.report(day(6), [], wellness).alerts == []
