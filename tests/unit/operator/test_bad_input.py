"""Input the schema cannot catch is refused with a message that names where it is and what is wrong,
without quoting it: a DSN whose port is not a port, a JWT key set that is not one. And every Club
name the CRD accepts gives object names the API server accepts."""

from __future__ import annotations

import json
import re

import pytest

from club_operator import club_servers as servers
from club_operator import credentials, naming
from club_operator.database import InvalidServer, Server
from club_operator.models import ClubSpec
from tests.support import crds

WHERE = "Secret team-a/pg key 'dsn'"


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://admin:s3cret@db:99999/postgres",
        "postgresql://admin:s3cret@db:abc/postgres",
        "host=db port=0 user=admin password=s3cret",
        "host=db,db2 port=5432,5433 user=admin password=s3cret",
    ],
)
def test_a_dsn_whose_port_is_not_a_port_is_invalid_naming_the_secret(dsn: str) -> None:
    with pytest.raises(InvalidServer) as caught:
        servers.checked(Server(dsn), WHERE)
    message = str(caught.value)
    assert message == f"{WHERE}: the DSN's port must be one number between 1 and 65535"
    assert "s3cret" not in message


def test_a_dsn_that_does_not_parse_is_invalid_naming_the_secret() -> None:
    with pytest.raises(InvalidServer) as caught:
        servers.checked(Server("this is not = a 'connection string"), WHERE)
    assert str(caught.value).startswith(f"{WHERE}: the admin DSN is not a valid PostgreSQL")


@pytest.mark.parametrize(
    "dsn", ["postgresql://admin:pw@db:6432/postgres", "host=db user=admin", "host=db port=65535"]
)
def test_a_good_dsn_passes(dsn: str) -> None:
    server = Server(dsn)
    assert servers.checked(server, WHERE) is server


SECRET = "x" * 32


@pytest.mark.parametrize(
    ("keys", "words"),
    [
        ('{"active": "k1", "keys": {"k1": ', "not JSON (Expecting value at line 1 column"),
        ("", "not JSON"),
        ("[]", "not a JSON object"),
        (json.dumps({"active": "k1"}), '"keys" must map each kid'),
        (json.dumps({"active": "k1", "keys": {"k1": 7}}), '"keys" must map each kid'),
        (json.dumps({"active": "k2", "keys": {"k1": SECRET}}), '"active" must be the kid'),
        (json.dumps({"active": "k1", "keys": {"k1": "short"}}), "at least 32 characters"),
    ],
)
def test_a_key_set_the_runtime_would_refuse_is_invalid(keys: str, words: str) -> None:
    with pytest.raises(credentials.InvalidKeySet) as caught:
        credentials.active_key_id(keys)
    assert words in str(caught.value)
    assert SECRET not in str(caught.value)


def test_a_good_key_set_gives_its_active_kid() -> None:
    assert credentials.active_key_id(json.dumps({"active": "k1", "keys": {"k1": SECRET}})) == "k1"
    generated = credentials.generate_jwt_keys()
    assert credentials.active_key_id(generated) == json.loads(generated)["active"]


def _name_rule() -> tuple[int, re.Pattern[str]]:
    """The CRD's rule on metadata.name: its length limit and pattern."""
    crd = crds.openapi_schema("Club")
    (rule,) = [r["rule"] for r in crd["x-kubernetes-validations"] if "metadata.name" in r["rule"]]
    limit = re.search(r"size\(self\.metadata\.name\) <= (\d+)", rule)
    pattern = re.search(r"matches\('([^']+)'\)", rule)
    assert limit is not None
    assert pattern is not None
    return int(limit.group(1)), re.compile(pattern.group(1))


DNS_1035 = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def _valid(name: str, pattern: re.Pattern[str], limit: int) -> bool:
    return len(name) <= limit and pattern.fullmatch(name) is not None


def _accepted(name: str) -> bool:
    limit, pattern = _name_rule()
    return _valid(name, pattern, limit)


@pytest.mark.parametrize("name", ["river.side", "1fc", "River-FC", "fc-", "-fc", "a" * 64, "fc_1"])
def test_names_the_operator_cannot_carry_are_refused_by_the_crd(name: str) -> None:
    assert not _accepted(name)


def test_every_accepted_name_gives_object_names_the_api_server_accepts() -> None:
    spec = ClubSpec.model_validate({"displayName": "Long"})
    for name in ("a", "riverside-fc", "a" + "-9" * 31, "z" * 63):
        assert _accepted(name)
        names = naming.build_names("a" * 63, name, spec, "clubs")
        # Services are DNS-1035 labels; every name the operator derives keeps to 63 characters.
        for service_or_label in (names.api_service, names.name):
            assert _valid(service_or_label, DNS_1035, 63)
        for obj in (
            names.api,
            names.config_map,
            names.worker("default"),
            names.worker("video"),
            names.workers_network_policy,
            names.redis_trigger_auth,
        ):
            assert _valid(obj, DNS_1035, 63), obj
        for secret in (
            names.database_secret,
            names.storage_secret,
            names.jwt_secret,
            names.owner_secret,
            names.redis_secret,
        ):
            assert _valid(secret, DNS_1123_SUBDOMAIN, 253), secret
