"""Names and ownership against the real stack: Clubs whose names differ only in punctuation get
resources of their own; a Club that names another's bucket or database gets Conflict and changes
nothing of the other's, before and after either is deleted with Delete; a Club re-created after
Retain takes its data back only when its spec says so. And the limits of a club's role."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError
from kubernetes import client as k8s
from psycopg import sql

from club_devstack.stack import StackInfo
from club_operator import database, naming, storage
from club_runtime.db import tenancy
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

SEASON = "INSERT INTO public.seasons (name, starts_on, ends_on) VALUES (%s, '2026-07-01', '2027-06-30')"


@pytest.fixture
def make_namespace(core: k8s.CoreV1Api) -> Iterator[Callable[[str], str]]:
    """Namespaces of a chosen name, deleted afterwards."""
    made: list[str] = []

    def make(name: str) -> str:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
        made.append(name)
        return name

    yield make
    for name in made:
        core.delete_namespace(name, propagation_policy="Background")


def _create(custom: k8s.CustomObjectsApi, namespace: str, name: str, **spec: Any) -> None:
    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": name, **spec}, name))


def _conflict(custom: k8s.CustomObjectsApi, namespace: str, name: str, type_: str) -> dict[str, Any]:
    club = clubs.wait_condition(custom, namespace, name, type_, "False", reason="Conflict")
    cond = clubs.condition(club, type_)
    assert cond is not None
    return cond


def _seasons(dsn: str) -> list[str]:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        return [r[0] for r in conn.execute("SELECT name FROM public.seasons ORDER BY name").fetchall()]


def _write_season(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, connect_timeout=5) as conn:
        conn.execute(SEASON, [name])


def _own_s3(stack: StackInfo, storage: dict[str, str]) -> Any:
    return stack.minio.client(storage["accessKeyId"], storage["secretAccessKey"])


def _role_comment(stack: StackInfo, role: str) -> str | None:
    with psycopg.connect(stack.postgres.dsn()) as admin:
        row = admin.execute(
            "SELECT shobj_description(oid, 'pg_authid') FROM pg_roles WHERE rolname = %s", [role]
        ).fetchone()
    return None if row is None else row[0]


def _warning_naming(core: k8s.CoreV1Api, namespace: str, name: str, resource: str) -> list[Any]:
    found: list[Any] = clubs.wait_for(
        f"a Warning Event on {name} naming {resource}",
        lambda: [
            e
            for e in clubs.events(core, namespace, name)
            if e.type == "Warning"
            and resource in (e.message or "")
            and "Conflict" in f"{e.reason} {e.message}"
        ],
        timeout=30,
    )
    return found


def test_clubs_whose_names_differ_only_in_punctuation_get_their_own_tenants(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    make_namespace: Callable[[str], str],
    stack: StackInfo,
    s3: Any,
) -> None:
    # team/a-x and team-a/x: both were club_team_a_x, club-team-a-x.
    team = make_namespace(f"tq{uuid.uuid4().hex[:8]}")
    team_a = make_namespace(f"{team}-a")
    spec = {"deletionPolicy": "Delete", "database": {"isolation": "dedicated"}}
    _create(custom, team, "a-x", **spec)
    _create(custom, team_a, "x", **spec)
    first, second = clubs.ready_status(custom, team, "a-x"), clubs.ready_status(custom, team_a, "x")
    first_s3 = clubs.secret_data(core, team, "a-x-storage")
    second_s3 = clubs.secret_data(core, team_a, "x-storage")
    assert first["databaseRole"] != second["databaseRole"]
    assert first["databaseName"] != second["databaseName"]
    assert first["bucket"] != second["bucket"]
    assert first_s3["accessKeyId"] != second_s3["accessKeyId"]
    assert first["databaseRole"] == f"club_{team}_a_x"  # readable: keeps the plain form

    first_dsn = clubs.secret_data(core, team, "a-x-database")["dsn"]
    second_dsn = clubs.secret_data(core, team_a, "x-database")["dsn"]
    _write_season(first_dsn, "first's")
    _write_season(second_dsn, "second's")
    _own_s3(stack, first_s3).put_object(Bucket=first["bucket"], Key="a.txt", Body=b"first")
    clubs.delete_club(custom, team_a, "x")
    assert _seasons(first_dsn) == ["first's"]
    assert _own_s3(stack, first_s3).get_object(Bucket=first["bucket"], Key="a.txt")["Body"].read() == b"first"
    assert all(b["Name"] != second["bucket"] for b in s3.list_buckets()["Buckets"])


def test_a_club_naming_another_clubs_bucket_gets_conflict_and_changes_nothing(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
    s3: Any,
) -> None:
    _create(custom, namespace, "owner-fc", deletionPolicy="Delete")
    owner = clubs.ready_status(custom, namespace, "owner-fc")
    bucket = owner["bucket"]
    owner_s3 = clubs.secret_data(core, namespace, "owner-fc-storage")
    own = _own_s3(stack, owner_s3)
    own.put_object(Bucket=bucket, Key="clubs/owner/match.mp4", Body=b"frames")

    def tags() -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}

    recorded = tags()
    assert recorded["footballclub.io/uid"] == owner["tenantId"]
    # The club's own credentials cannot rewrite the record of who owns the bucket.
    with pytest.raises(ClientError) as denied:
        own.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": []})
    assert denied.value.response["Error"]["Code"] == "AccessDenied"

    _create(custom, namespace, "squatter-fc", deletionPolicy="Delete", storage={"bucket": bucket})
    cond = _conflict(custom, namespace, "squatter-fc", "StorageReady")
    assert bucket in cond["message"]
    _warning_naming(core, namespace, "squatter-fc", bucket)
    # The other conditions keep going.
    clubs.wait_condition(custom, namespace, "squatter-fc", "DatabaseReady", "True")

    def untouched() -> None:
        assert tags() == recorded
        assert own.get_object(Bucket=bucket, Key="clubs/owner/match.mp4")["Body"].read() == b"frames"

    untouched()
    squatter_s3 = clubs.secret_data(core, namespace, "squatter-fc-storage")
    with pytest.raises(ClientError):
        _own_s3(stack, squatter_s3).list_objects_v2(Bucket=bucket)
    clubs.delete_club(custom, namespace, "squatter-fc")
    untouched()
    kept = clubs.wait_events(core, namespace, "squatter-fc", "Conflict")
    assert any(bucket in e.message for e in kept)
    clubs.delete_club(custom, namespace, "owner-fc")
    assert all(b["Name"] != bucket for b in s3.list_buckets()["Buckets"])


def test_a_club_naming_another_clubs_database_gets_conflict_and_changes_nothing(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
) -> None:
    _create(custom, namespace, "home-fc", deletionPolicy="Delete", database={"isolation": "dedicated"})
    home = clubs.ready_status(custom, namespace, "home-fc")
    home_db = clubs.secret_data(core, namespace, "home-fc-database")
    _write_season(home_db["dsn"], "home's")
    comment = _role_comment(stack, home["databaseRole"])

    spec = {"deletionPolicy": "Delete", "database": {"sharedDatabaseName": home["databaseName"]}}
    _create(custom, namespace, "away-fc", **spec)
    cond = _conflict(custom, namespace, "away-fc", "DatabaseReady")
    assert home["databaseName"] in cond["message"]
    _warning_naming(core, namespace, "away-fc", home["databaseName"])
    clubs.wait_condition(custom, namespace, "away-fc", "StorageReady", "True")

    def untouched() -> None:
        assert _seasons(home_db["dsn"]) == ["home's"]  # the password still works, the rows are there
        assert _role_comment(stack, home["databaseRole"]) == comment
        with psycopg.connect(stack.postgres.dsn(home["databaseName"])) as admin:
            assert admin.execute("SELECT count(*) FROM public.tenant_roles").fetchone() == (1,)

    untouched()
    clubs.delete_club(custom, namespace, "away-fc")
    untouched()
    clubs.delete_club(custom, namespace, "home-fc")


@pytest.mark.parametrize(
    ("database", "words"),
    [
        ("postgres", "system database"),
        ("template0", "system database"),
        ("template1", "system database"),
    ],
)
def test_the_api_server_refuses_a_system_database_as_shared_database(
    custom: k8s.CustomObjectsApi, namespace: str, database: str, words: str
) -> None:
    manifest = crds.manifest(
        "Club", {"displayName": "X", "database": {"sharedDatabaseName": database}}, "sys"
    )
    message = crds.rejection(lambda: crds.create(custom, namespace, manifest, dry_run=True))
    assert "spec.database.sharedDatabaseName" in message
    assert words in message


def test_a_club_recreated_after_retain_takes_its_data_back_only_when_it_says_so(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
) -> None:
    _create(custom, namespace, "phoenix")
    before = clubs.ready_status(custom, namespace, "phoenix")
    _write_season(clubs.secret_data(core, namespace, "phoenix-database")["dsn"], "kept season")
    storage = clubs.secret_data(core, namespace, "phoenix-storage")
    _own_s3(stack, storage).put_object(Bucket=before["bucket"], Key="kept.txt", Body=b"kept")
    clubs.delete_club(custom, namespace, "phoenix")

    _create(custom, namespace, "phoenix")
    database = _conflict(custom, namespace, "phoenix", "DatabaseReady")
    assert "spec.adopt.database: true" in database["message"]
    assert "spec.adopt.bucket: true" in _conflict(custom, namespace, "phoenix", "StorageReady")["message"]
    # The retained rows, their role's record and the retained objects are untouched.
    with psycopg.connect(stack.postgres.dsn(before["databaseName"])) as admin:
        assert admin.execute(
            "SELECT name FROM public.seasons WHERE club_id = %s", [before["tenantId"]]
        ).fetchall() == [("kept season",)]
    assert before["tenantId"] in (_role_comment(stack, before["databaseRole"]) or "")
    assert (
        _own_s3(stack, storage).get_object(Bucket=before["bucket"], Key="kept.txt")["Body"].read() == b"kept"
    )

    crds.patch(custom, namespace, "Club", "phoenix", {"spec": {"adopt": {"database": True, "bucket": True}}})
    after = clubs.ready_status(custom, namespace, "phoenix")
    assert (after["databaseRole"], after["bucket"]) == (before["databaseRole"], before["bucket"])
    assert after["tenantId"] == before["tenantId"]
    # The runtime serves the same tenant: its CLUB_ID keys the rows' club_id and the object keys.
    config = core.read_namespaced_config_map("phoenix-config", namespace).data
    assert config["CLUB_ID"] == before["tenantId"]
    assert _seasons(clubs.secret_data(core, namespace, "phoenix-database")["dsn"]) == ["kept season"]
    storage = clubs.secret_data(core, namespace, "phoenix-storage")
    assert (
        _own_s3(stack, storage).get_object(Bucket=after["bucket"], Key="kept.txt")["Body"].read() == b"kept"
    )
    crds.patch(custom, namespace, "Club", "phoenix", {"spec": {"deletionPolicy": "Delete"}})
    clubs.delete_club(custom, namespace, "phoenix")
    assert _role_comment(stack, before["databaseRole"]) is None


def test_the_clubs_role_has_its_limits_no_temporary_tables_and_a_scram_verifier(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
) -> None:
    limits = {"connectionLimit": 7, "statementTimeout": "2s", "tempFileLimit": "64Mi"}
    _create(custom, namespace, "limited-fc", deletionPolicy="Delete", database={"limits": limits})
    role = clubs.ready_status(custom, namespace, "limited-fc")["databaseRole"]
    db = clubs.secret_data(core, namespace, "limited-fc-database")

    def settings() -> tuple[int, set[str], str]:
        with psycopg.connect(stack.postgres.dsn()) as admin:
            row = admin.execute(
                "SELECT r.rolconnlimit, coalesce(s.setconfig, '{}'), a.rolpassword FROM pg_roles r "
                "JOIN pg_authid a ON a.oid = r.oid "
                "LEFT JOIN pg_db_role_setting s ON s.setrole = r.oid AND s.setdatabase = 0 "
                "WHERE r.rolname = %s",
                [role],
            ).fetchone()
        assert row is not None
        return row[0], set(row[1]), row[2]

    connections, config, password = settings()
    assert connections == 7
    assert {
        "statement_timeout=2000",
        "idle_in_transaction_session_timeout=60000",
        "temp_file_limit=65536",
    } <= config
    assert password.startswith("SCRAM-SHA-256$")
    assert db["password"] not in password
    with psycopg.connect(db["dsn"]) as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("2s",)
        with pytest.raises(psycopg.errors.QueryCanceled):
            conn.execute("SELECT pg_sleep(5)")
    with psycopg.connect(db["dsn"]) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("CREATE TEMPORARY TABLE scratch (x int)")

    # Drift is repaired: a limit lifted behind the operator's back comes back.
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} CONNECTION LIMIT -1").format(sql.Identifier(role)))
    clubs.wait_for("the connection limit to be restored", lambda: settings()[0] == 7, timeout=60)


def test_a_club_provisioned_before_names_were_injective_keeps_its_names_and_data(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
    s3: Any,
) -> None:
    # The namespace has a '-', so today's rule adds a digest; the old one did not. Suspended, the
    # operator provisions nothing while the test lays out what the old operator left.
    spec = {"displayName": "Veteran", "suspend": True, "deletionPolicy": "Delete"}
    uid = clubs.create_club(custom, namespace, crds.manifest("Club", spec, "veteran-fc"))["metadata"]["uid"]
    clubs.wait_for(
        "the suspended Club's first status",
        lambda: ((clubs.get_club(custom, namespace, "veteran-fc") or {}).get("status") or {}).get(
            "databaseRole"
        ),
    )
    role, bucket = (
        naming.pg_identifier("club", namespace, "veteran-fc"),
        naming.s3_name("club", namespace, "veteran-fc"),
    )
    assert role != naming.pg_club_name(namespace, "veteran-fc")
    pool = database.Server(stack.postgres.dsn())  # the shared pool, as an older operator made it
    database.ensure_database(pool, "clubs")
    database.ensure_schema(pool, "clubs")
    tenancy.provision_club(stack.postgres.dsn("clubs"), uid, f"{namespace}/veteran-fc", role, "old-password")
    with psycopg.connect(stack.postgres.dsn("clubs", user=role, password="old-password")) as conn:
        conn.execute(SEASON, ["veteran season"])
    server = storage.S3Server(stack.minio.endpoint, stack.minio.access_key, stack.minio.secret_key)
    old = storage.StoragePlan(bucket, bucket, "old-secret-key", f"{bucket}-bucket", None, "tmp/", 7)
    storage.ensure_storage(server, old)
    s3.put_object(Bucket=bucket, Key="old.txt", Body=b"old")
    crds.patch(custom, namespace, "Club", "veteran-fc", {"status": {"databaseRole": role}}, status=True)

    crds.patch(custom, namespace, "Club", "veteran-fc", {"spec": {"suspend": False}})
    status = clubs.ready_status(custom, namespace, "veteran-fc")
    assert (status["databaseRole"], status["bucket"]) == (role, bucket)
    assert _seasons(clubs.secret_data(core, namespace, "veteran-fc-database")["dsn"]) == ["veteran season"]
    own = _own_s3(stack, clubs.secret_data(core, namespace, "veteran-fc-storage"))
    assert own.get_object(Bucket=bucket, Key="old.txt")["Body"].read() == b"old"
    assert uid in (_role_comment(stack, role) or "")  # now recorded as the Club's
    tags = {t["Key"]: t["Value"] for t in s3.get_bucket_tagging(Bucket=bucket)["TagSet"]}
    assert tags["footballclub.io/uid"] == uid
    with psycopg.connect(stack.postgres.dsn()) as admin:
        new_role = naming.pg_club_name(namespace, "veteran-fc")
        assert admin.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [new_role]).fetchone() is None
