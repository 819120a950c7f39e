"""The Club's Secrets are owned by the Club, labelled, and carry what the runtime needs."""

from __future__ import annotations

import json

from club_operator import credentials, naming
from club_operator.models import ClubSpec

OWNER = credentials.Owner(
    "footballclub.io/v1alpha1", "Club", "riverside", "0b5e8c7e-0000-4000-8000-000000000001"
)
NAMES = naming.build_names("team-a", "riverside", ClubSpec.model_validate({"displayName": "R"}), "clubs")


def test_secrets_are_owned_by_the_club_so_deleting_it_deletes_them() -> None:
    secret = credentials.build_owner_secret(NAMES, OWNER, password="pw")
    (ref,) = secret["metadata"]["ownerReferences"]
    assert ref == {
        "apiVersion": "footballclub.io/v1alpha1",
        "kind": "Club",
        "name": "riverside",
        "uid": OWNER.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }
    assert secret["metadata"]["labels"]["footballclub.io/club"] == "riverside"


def test_the_database_secret_names_role_database_and_dsn() -> None:
    secret = credentials.build_database_secret(NAMES, OWNER, host="db", port=5432, password="pw", dsn="dsn")
    assert secret["stringData"] == {
        "host": "db",
        "port": "5432",
        "dbname": "clubs",
        "username": NAMES.role,
        "password": "pw",
        "dsn": "dsn",
    }


def test_a_generated_jwt_key_set_has_one_active_key_with_a_kid() -> None:
    keys = json.loads(credentials.generate_jwt_keys())
    assert list(keys["keys"]) == [keys["active"]]
    assert len(keys["keys"][keys["active"]]) >= 32
    assert credentials.active_key_id(json.dumps(keys)) == keys["active"]
    assert credentials.generate_jwt_keys() != credentials.generate_jwt_keys()
