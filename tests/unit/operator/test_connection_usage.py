"""connection_usage.busiest: a club's session count is its busiest login's, each login role having
the club's connection limit (db_logins.py)."""

from __future__ import annotations

from club_operator import connection_usage, db_logins


def test_the_busiest_of_the_clubs_logins_counts() -> None:
    role = "club_ns_fc"
    first, second = db_logins.login_names(role)
    counts = {role: 2, first: 30, second: 12, "club_ns_other": 49, "postgres": 3}
    assert connection_usage.busiest(counts, db_logins.logins(role)) == 30


def test_a_club_without_sessions_counts_zero() -> None:
    assert connection_usage.busiest({"club_ns_other": 5}, db_logins.logins("club_ns_fc")) == 0
    assert connection_usage.busiest({}, ()) == 0
