"""Names derived for a Club are valid for PostgreSQL and S3, stable, and injective in the Club's
namespace and name: unique even when only punctuation differs or a limit cuts them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from club_operator import naming
from club_operator.models import ClubSpec

# What the API server lets through: a namespace is a DNS-1123 label, a Club's name was a DNS-1123
# subdomain (dots allowed) before the CRD narrowed it to a DNS-1035 label.
_NAMESPACE = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
_NAME = st.from_regex(r"[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?", fullmatch=True)


def _spec(**database: object) -> ClubSpec:
    return ClubSpec.model_validate({"displayName": "X", "database": database})


def test_shared_clubs_use_the_pooled_database_and_their_own_role() -> None:
    names = naming.build_names("teama", "riverside-fc", _spec(), "clubs")
    assert names.database == "clubs"
    assert names.role == "club_teama_riverside_fc"
    assert names.bucket == "club-teama-riverside-fc"
    assert names.s3_user == "club-teama-riverside-fc"
    assert names.database_secret == "riverside-fc-database"


def test_a_dedicated_club_gets_a_database_named_after_it() -> None:
    names = naming.build_names("teama", "harbour", _spec(isolation="dedicated"), "clubs")
    assert names.database == "club_teama_harbour"


def test_a_name_that_reads_back_unambiguously_keeps_its_plain_form() -> None:
    # A namespace without '-' ends at the first separator: these are the names Clubs had before.
    assert naming.pg_club_name("clubs", "riverside-fc") == "club_clubs_riverside_fc"
    assert naming.s3_club_name("clubs", "riverside-fc") == "club-clubs-riverside-fc"


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("ns", "a-x"), ("ns", "a.x")),  # punctuation in one namespace
        (("team-a", "x"), ("team", "a-x")),  # where the namespace ends, across two
        (("team", "a-x"), ("team-a", "x")),
        (("a-b", "c-d"), ("a", "b-c-d")),
        (("ns", "a--x"), ("ns", "a-x")),
        (("ns", "a-x"), ("ns", "a-x--" + "0" * 12)),  # a plain name that mimics a digest
    ],
)
def test_clubs_whose_names_differ_only_in_punctuation_get_different_names(
    first: tuple[str, str], second: tuple[str, str]
) -> None:
    a = naming.build_names(*first, _spec(isolation="dedicated"), "clubs")
    b = naming.build_names(*second, _spec(isolation="dedicated"), "clubs")
    assert a.role != b.role
    assert a.database != b.database
    assert a.bucket != b.bucket
    assert a.s3_user != b.s3_user
    assert a.s3_policy != b.s3_policy


def test_a_digest_is_added_only_where_sanitising_or_a_limit_changed_something() -> None:
    assert "__" not in naming.pg_club_name("ns", "a-x")
    assert re.fullmatch(r"club_team_a_x__[0-9a-f]{12}", naming.pg_club_name("team-a", "x"))
    assert re.fullmatch(r"club-ns-a-x--[0-9a-f]{12}", naming.s3_club_name("ns", "a.x"))


@given(_NAMESPACE, _NAME, _NAMESPACE, _NAME)
def test_derived_names_are_injective_and_within_the_servers_limits(
    ns1: str, n1: str, ns2: str, n2: str
) -> None:
    for ns, name in ((ns1, n1), (ns2, n2)):
        role, bucket = naming.pg_club_name(ns, name), naming.s3_club_name(ns, name)
        assert len(role.encode()) <= 63
        assert re.fullmatch(r"[a-z][a-z0-9_]*[a-z0-9]", role)
        assert 3 <= len(bucket) <= 63
        assert re.fullmatch(r"[a-z0-9][a-z0-9-]*[a-z0-9]", bucket)
    if (ns1, n1) != (ns2, n2):
        assert naming.pg_club_name(ns1, n1) != naming.pg_club_name(ns2, n2)
        assert naming.s3_club_name(ns1, n1) != naming.s3_club_name(ns2, n2)


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


def test_the_backup_cronjob_leaves_room_for_the_names_of_its_jobs() -> None:
    # The CronJob controller names each Job `<cronjob>-<minutes since the epoch>` (11 digits), and the
    # API server refuses a CronJob whose name is longer than 52 characters.
    short = naming.build_names("ns", "riverside", _spec(), "clubs")
    assert short.backup_cronjob == "riverside-backup"
    longest = [naming.build_names("ns", "c" * 52 + tail, _spec(), "clubs") for tail in ("x", "y")]
    assert all(len(n.backup_cronjob) <= 52 for n in longest)
    assert longest[0].backup_cronjob != longest[1].backup_cronjob


def test_names_are_a_pure_function_of_the_club() -> None:
    assert naming.build_names("a", "b", _spec(), "clubs") == naming.build_names("a", "b", _spec(), "clubs")


def test_labels_mark_the_operator_and_the_club() -> None:
    labels = naming.build_names("ns", "riverside", _spec(), "clubs").labels()
    assert labels["app.kubernetes.io/managed-by"] == "club-operator"
    assert labels["footballclub.io/club"] == "riverside"


def test_a_club_provisioned_under_the_old_rule_keeps_its_names() -> None:
    spec = _spec(isolation="dedicated")
    old = naming.build_names("team-a", "x", spec, "clubs", provisioned_role="club_team_a_x")
    assert (old.role, old.database, old.bucket, old.s3_user) == (
        "club_team_a_x",
        "club_team_a_x",
        "club-team-a-x",
        "club-team-a-x",
    )
    # Any other hint is ignored: it can only choose between the two rules for this same Club.
    new = naming.build_names("team-a", "x", spec, "clubs")
    for hint in (None, "club_other", new.role):
        assert naming.build_names("team-a", "x", spec, "clubs", provisioned_role=hint) == new
    assert new.role != old.role
