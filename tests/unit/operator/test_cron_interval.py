"""cron.longest_interval: the longest time a backup schedule leaves between two runs (UTC)."""

from __future__ import annotations

import pytest

from club_operator import cron

DAY = 86400


@pytest.mark.parametrize(
    ("schedule", "seconds"),
    [
        ("0 3 * * *", DAY),  # the default: daily at 03:00
        ("0 3,15 * * *", DAY // 2),
        ("0 1,2,23 * * *", 21 * 3600),  # 02:00 to 23:00 is the longest
        ("* * * * *", 60),
        ("*/15 * * * *", 900),
        ("0 3 * * 0", 7 * DAY),
        ("0 3 * * sun", 7 * DAY),
        ("0 3 * * 1-5", 3 * DAY),  # Friday to Monday
        ("0 3 1 * *", 31 * DAY),  # the longest month
        ("0 0 31 * *", 61 * DAY),  # 31 March to 31 May
        ("0 3 1 * 1", 7 * DAY),  # the 1st OR a Monday: a Monday comes every week
        ("0 3 1 1 *", 366 * DAY),  # across a leap day
        ("0 3 29 2 *", 1461 * DAY),  # leap days only
        ("@hourly", 3600),
        ("@daily", DAY),
        ("@midnight", DAY),
        ("@weekly", 7 * DAY),
        ("@monthly", 31 * DAY),
        ("@yearly", 366 * DAY),
        ("@every 90m", 5400),
        ("@every 1h30m", 5400),
        ("@every 1.5h", 5400),
        ("@every 500ms", 1),  # robfig/cron runs at most every second
        ("@every 0", 1),
    ],
)
def test_longest_interval(schedule: str, seconds: int) -> None:
    assert cron.longest_interval(schedule) == seconds


@pytest.mark.parametrize(
    "schedule", ["", "0 3 * *", "0 3 31 2 *", "@fortnightly", "TZ=UTC 0 3 * * *", "5-2 * * * *"]
)
def test_a_schedule_the_operator_refuses_has_no_interval(schedule: str) -> None:
    assert cron.schedule_problem(schedule) is not None
    assert cron.longest_interval(schedule) is None
