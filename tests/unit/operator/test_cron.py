"""cron.schedule_problem: the API server's CronJob schedule checks, word for word, and schedules that
never run. (tests/integration/operator/test_backup_schedule_validation.py holds it against the real
API server.)"""

from __future__ import annotations

import pytest

from club_operator.cron import schedule_problem

ACCEPTED = [
    "0 3 * * *",
    "*/15 * * * *",
    "0/5 * * * *",  # N/step runs from N to the field's end
    "0-59/100 * * * *",
    "007 * * * *",
    "0  3 * * *",  # any run of spaces between fields
    "59 23 31 12 6",
    "0 0 1 JAN-DEC mon-FRI",
    "1,,2 * * * *",  # robfig/cron skips empty list items
    "? * ? * *",
    "0 3 29 2 *",  # 29 February comes in leap years
    "0 3 31 2 1",  # day of month or day of week: every Monday of February
    "@daily",
    "@midnight",
    "@every 1h30m",
]


@pytest.mark.parametrize("schedule", ACCEPTED)
def test_schedules_a_cronjob_takes_have_no_problem(schedule: str) -> None:
    assert schedule_problem(schedule) is None


REFUSED = [
    ("61 * * * *", "end of range (61) above maximum (59): 61"),
    ("* 24 * * *", "end of range (24) above maximum (23): 24"),
    ("* * 0 * *", "beginning of range (0) below minimum (1): 0"),
    ("* * 32 * *", "end of range (32) above maximum (31): 32"),
    ("* * * 13 *", "end of range (13) above maximum (12): 13"),
    ("* * * 0 *", "beginning of range (0) below minimum (1): 0"),
    ("* * * * 7", "end of range (7) above maximum (6): 7"),
    ("* * * * * *", "expected exactly 5 fields, found 6: [* * * * * *]"),
    ("0 3 * *", "expected exactly 5 fields, found 4: [0 3 * *]"),
    ("*/0 * * * *", "step of range should be a positive number: */0"),
    ("5-2 * * * *", "beginning of range (5) beyond end of range (2): 5-2"),
    ("1-2-3 * * * *", "too many hyphens: 1-2-3"),
    ("1/2/3 * * * *", "too many slashes: 1/2/3"),
    ("a * * * *", 'failed to parse int from a: strconv.Atoi: parsing "a": invalid syntax'),
    ("* * * JANUARY *", "failed to parse int from JANUARY"),
    ("-1 * * * *", 'failed to parse int from : strconv.Atoi: parsing "": invalid syntax'),
    ("*/* * * * *", "failed to parse int from *"),
    ("", "empty spec string"),
    ("@often", "unrecognized descriptor: @often"),
    ("@every soon", "failed to parse duration @every soon"),
    ("TZ=UTC 0 3 * * *", "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"),
]


@pytest.mark.parametrize(("schedule", "words"), REFUSED)
def test_schedules_the_api_server_refuses_say_why_in_its_words(schedule: str, words: str) -> None:
    problem = schedule_problem(schedule)
    assert problem is not None
    assert words in problem


def test_with_both_days_restricted_either_one_runs_it() -> None:
    assert schedule_problem("0 3 30 feb */7") is None  # */7 is Sunday only: every Sunday of February


def test_the_first_bad_field_is_the_one_named() -> None:
    assert schedule_problem("61 24 * * *") == "end of range (61) above maximum (59): 61"


@pytest.mark.parametrize(
    ("schedule", "words"),
    [
        ("0 3 31 2,4 *", "(31 in 2,4)"),
        ("0 3 30,31 2 *", "(30,31 in 2)"),
        ("0 3 31 apr-jun/2 *", "(31 in 4,6)"),
        ("0 3 30 feb */1", "(30 in 2)"),  # */1 is still a wildcard: day of month AND day of week
    ],
)
def test_a_schedule_that_never_runs_is_a_problem(schedule: str, words: str) -> None:
    problem = schedule_problem(schedule)
    assert problem is not None
    assert problem.startswith("never runs: ")
    assert words in problem
