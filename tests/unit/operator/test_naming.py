"""Names derived for a Club are valid for PostgreSQL and S3, stable, and unique even when truncated."""

from __future__ import annotations

import re

from club_operator import naming
from club_operator.models import ClubSpec


def _spec(**database: object) -> ClubSpec:
    return ClubSpec.model_validate({"displayName": "X", "database": database})


def test_shared_clubs_use_the_pooled_database_and_their_own_role() -> None:
    names = naming.build_names("team-a", "riverside-fc", _spec(), "clubs")
    assert names.database == "clubs"
    assert names.role == "club_team_a_riverside_fc"
    assert names.bucket == "club-team-a-riverside-fc"
    assert names.s3_user == "club-team-a-riverside-fc"
    assert names.database_secret == "riverside-fc-database"


def test_a_dedicated_club_gets_a_database_named_after_it() -> None:
    names = naming.build_names("team-a", "harbour", _spec(isolation="dedicated"), "clubs")
    assert names.database == "club_team_a_harbour"


def test_a_named_shared_database_and_bucket_are_used_as_given() -> None:
    spec = ClubSpec.model_validate(
        {"displayName": "X", "database": {"sharedDatabaseName": "pool_2"}, "storage": {"bucket": "my-media"}}
    )
    names = naming.build_names("ns", "club", spec, "clubs")
    assert (names.database, names.bucket) == ("pool_2", "my-media")


def test_long_names_are_truncated_to_the_servers_limits_and_stay_unique() -> None:
    long_ns, long_name = "n" * 63, "c" * 63
    first = naming.build_names(long_ns, long_name, _spec(isolation="dedicated"), "clubs")
    second = naming.build_names(long_ns, long_name[:-1] + "d", _spec(isolation="dedicated"), "clubs")
    for names in (first, second):
        assert len(names.role) <= 63
        assert len(names.database) <= 63
        assert len(names.bucket) <= 63
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", names.bucket)
        assert re.fullmatch(r"[a-z0-9_]+", names.role)
    assert first.role != second.role
    assert first.bucket != second.bucket


def test_names_are_a_pure_function_of_the_club() -> None:
    assert naming.build_names("a", "b", _spec(), "clubs") == naming.build_names("a", "b", _spec(), "clubs")


def test_labels_mark_the_operator_and_the_club() -> None:
    labels = naming.build_names("ns", "riverside", _spec(), "clubs").labels()
    assert labels["app.kubernetes.io/managed-by"] == "club-operator"
    assert labels["footballclub.io/club"] == "riverside"
