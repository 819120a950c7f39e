"""Rolling a Club back with a ClubRestore, and starting a new Club from a backup
(spec.bootstrap.fromBackup), through the session's operator on the stack's real PostgreSQL, MinIO
and API server.

The backup is a real one, taken with the runtime's backup engine as the club's own role into the
backup bucket where the club's backup Job writes (as in test_backup_verify.py); the operator then
runs its Job on kwok's nodes, where the pod completes without running anything, and verify restores
the real objects. The restore itself runs in the operator, on the real database: what these tests
read back is what a cluster gets. (The safety backup a ClubRestore takes first is such a kwok Job
too: it succeeds without objects, so verify fails it here; on the real node it is a real backup.)

Rows are compared as each club's own role sees them (row-level security shows it its rows only):
every table with a club_id, each row as text, sorted. A clone is also read through the runtime's API:
the real app, in this process, with the environment the operator gives the club's API pods (its
ConfigMap and the Secrets it wrote), since kwok's pods run nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest
from botocore.exceptions import ClientError
from fastapi.testclient import TestClient
from kubernetes import client as k8s
from psycopg import sql
from pydantic import SecretStr

from club_devstack.stack import StackInfo
from club_runtime import contract
from club_runtime.api.app import create_app
from club_runtime.backup import snapshot, store
from club_runtime.settings import Settings
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

BACKUP_BUCKET = "club-backups"  # the operator's default backup_bucket
PLAYER = (
    "INSERT INTO players (first_name, last_name, position, preferred_foot, birth_date) "
    "VALUES (%s, %s, 'MF', 'right', '2001-01-01')"
)


def _dsn(core: k8s.CoreV1Api, namespace: str, club: str) -> str:
    return clubs.secret_data(core, namespace, f"{club}-database")["dsn"]


def _rows(dsn: str) -> dict[str, list[str]]:
    """Every row the role sees in every table with a club_id (and `clubs`), as text, sorted."""
    with psycopg.connect(dsn) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.columns WHERE table_schema = 'public' "
                "AND column_name = 'club_id' ORDER BY table_name"
            )
        ]
        return {
            t: [
                r[0]
                for r in conn.execute(
                    sql.SQL("SELECT x::text FROM {} AS x ORDER BY 1").format(sql.Identifier("public", t))
                )
            ]
            for t in [*tables, "clubs"]
        }


def _players(dsn: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "SELECT id, first_name, last_name, position, preferred_foot, birth_date FROM players ORDER BY id"
        ).fetchall()


def _add_players(dsn: str, names: list[str], last: str) -> None:
    with psycopg.connect(dsn) as conn:
        for name in names:
            conn.execute(PLAYER, [name, last])


def _take_backup(stack: StackInfo, tenant: str, dsn: str, backup_id: str) -> None:
    """The backup the club's Job would take, taken here with the same engine as the club's role."""
    s3 = stack.minio.client()
    try:
        s3.create_bucket(Bucket=BACKUP_BUCKET)
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    settings = Settings(
        club_id=tenant,
        database_url=SecretStr(dsn),
        backup_s3_endpoint_url=stack.minio.endpoint,
        backup_s3_bucket=BACKUP_BUCKET,
        backup_s3_prefix="clubs/",
        backup_s3_access_key_id=SecretStr(stack.minio.access_key),
        backup_s3_secret_access_key=SecretStr(stack.minio.secret_key),
    )
    request = snapshot.BackupRequest(club_id=uuid.UUID(tenant), dsn=dsn, backup_id=backup_id)
    snapshot.take(request, store.connect(settings))


def _api_environment(core: k8s.CoreV1Api, namespace: str, club: str) -> dict[str, str]:
    """The environment of the club's API container, as the operator wrote its Deployment: the
    ConfigMap's keys (envFrom), then each variable's value or its Secret's key."""
    apps = k8s.AppsV1Api(core.api_client)
    container = apps.read_namespaced_deployment(f"{club}-api", namespace).spec.template.spec.containers[0]
    environment: dict[str, str] = {}
    for source in container.env_from or []:
        environment |= core.read_namespaced_config_map(source.config_map_ref.name, namespace).data or {}
    for var in container.env or []:
        if var.value_from is None:
            environment[var.name] = var.value or ""
        else:
            ref = var.value_from.secret_key_ref
            environment[var.name] = clubs.secret_data(core, namespace, ref.name)[ref.key]
    return environment


@contextmanager
def _club_api(core: k8s.CoreV1Api, namespace: str, club: str) -> Iterator[TestClient]:
    """The runtime's API app (lifespan included) configured exactly as the club's API pods are."""
    values: dict[str, Any] = {k.lower(): v for k, v in _api_environment(core, namespace, club).items()}
    settings = Settings(**values)
    with TestClient(create_app(settings)) as client:
        yield client


def _login_as_owner(api: TestClient, core: k8s.CoreV1Api, namespace: str, club: str) -> dict[str, str]:
    owner = clubs.secret_data(core, namespace, f"{club}-owner")
    answer = api.post("/api/v1/auth/login", json={"email": owner["email"], "password": owner["password"]})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def _api_players(api: TestClient, auth: dict[str, str]) -> list[dict[str, Any]]:
    """Every player the API lists, page by page."""
    found: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None:
        answer = api.get("/api/v1/players", params={"limit": 200, "offset": offset}, headers=auth)
        assert answer.status_code == 200, answer.text
        page = answer.json()
        found += page["items"]
        offset = page["next_offset"]
    return found


def _names(players: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((p["first_name"], p["last_name"]) for p in players)


def _status(custom: k8s.CustomObjectsApi, namespace: str, plural: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = (clubs.get_object(custom, namespace, plural, name) or {}).get("status") or {}
    return found


def _restore(custom: k8s.CustomObjectsApi, namespace: str, name: str, club: str, backup: str) -> None:
    body = crds.manifest("ClubRestore", {"clubRef": {"name": club}, "backupRef": {"name": backup}}, name)
    crds.create(custom, namespace, body)


def _wait_restored(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        status = _status(custom, namespace, "clubrestores", name)
        return status if status.get("phase") in ("Succeeded", "Failed") else None

    done: dict[str, Any] = clubs.wait_for(f"ClubRestore {name} to finish", check, timeout=180)
    return done


@pytest.fixture
def backed_up(
    club_operator: RunningOperator,
    stack: StackInfo,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
) -> dict[str, Any]:
    """Two clubs in the shared database with rows of their own; the first backed up (verified)."""
    for name in ("origin-fc", "other-fc"):
        clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": name.title()}, name))
    tenant = str(clubs.ready_status(custom, namespace, "origin-fc")["tenantId"])
    clubs.ready_status(custom, namespace, "other-fc")
    origin, other = _dsn(core, namespace, "origin-fc"), _dsn(core, namespace, "other-fc")
    _add_players(origin, [f"Origin {n}" for n in range(20)], "Backed")
    _add_players(other, [f"Other {n}" for n in range(10)], "Neighbour")
    before = _rows(origin)
    _take_backup(stack, tenant, origin, "before-1")
    body = crds.manifest("ClubBackup", {"clubRef": {"name": "origin-fc"}}, "before-1")
    crds.create(custom, namespace, body)
    verified = clubs.wait_for(
        "ClubBackup before-1 verified",
        lambda: "verified" in (s := _status(custom, namespace, "clubbackups", "before-1")) and s,
        timeout=120,
    )
    assert verified["verified"] is True, verified
    return {"origin": origin, "other": other, "before": before, "tenant": tenant}


def test_a_club_rolled_back_has_exactly_the_backed_up_rows_and_its_neighbour_is_untouched(
    backed_up: dict[str, Any], custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    origin, other, before = backed_up["origin"], backed_up["other"], backed_up["before"]
    # The club's data changes after the backup: players deleted, renamed, added.
    with psycopg.connect(origin) as conn:
        conn.execute("DELETE FROM players WHERE first_name IN ('Origin 0', 'Origin 1', 'Origin 2')")
        conn.execute("UPDATE players SET last_name = 'Renamed' WHERE first_name IN ('Origin 3', 'Origin 4')")
    _add_players(origin, ["Late 1", "Late 2"], "After")
    changed = _rows(origin)
    assert changed != before
    neighbour = _rows(other)
    assert len(neighbour["players"]) == 10

    # Two restores of the club at once: the second waits for the first.
    _restore(custom, namespace, "rollback-1", "origin-fc", "before-1")
    _restore(custom, namespace, "rollback-2", "origin-fc", "before-1")
    waiting = clubs.wait_for(
        "rollback-2 to wait for rollback-1",
        lambda: (
            (s := _status(custom, namespace, "clubrestores", "rollback-2")).get("reason")
            == "WaitingForRestore"
            and s
        ),
        timeout=60,
    )
    assert "rollback-1 of Club origin-fc goes first" in waiting["message"]

    first = _wait_restored(custom, namespace, "rollback-1")
    assert first["phase"] == "Succeeded", first
    assert first["safetyBackup"] == "rollback-1-safety"
    # Every tenant row of the backup (the club's own row in `clubs` is its identity: kept as it is).
    assert first["rows"] == sum(len(rows) for table, rows in before.items() if table != "clubs")
    assert first["backupId"] == "before-1"
    assert first["startTime"] <= first["completionTime"]
    # Exactly the backed-up rows are back; the other club in the same database is untouched.
    assert _rows(origin) == before
    assert _rows(other) == neighbour

    # The safety backup was taken first, by the ClubBackup controller, before anything changed.
    safety = clubs.get_object(custom, namespace, "clubbackups", "rollback-1-safety")
    assert safety is not None
    assert safety["spec"]["trigger"] == "Safety"
    assert safety["status"]["phase"] == "Succeeded"
    assert safety["metadata"]["ownerReferences"][0]["name"] == "origin-fc"
    clubs.wait_events(core, namespace, "rollback-1", "RestoreSucceeded")
    reasons = [e.reason for e in clubs.events(core, namespace, "rollback-1")]
    for phase in ("SafetyBackup", "Suspending", "Restoring", "Resuming", "Succeeded"):
        assert f"Restore{phase}" in reasons, reasons

    second = _wait_restored(custom, namespace, "rollback-2")
    assert second["phase"] == "Succeeded", second
    assert _rows(origin) == before
    assert _rows(other) == neighbour
    # The club is resumed: the hold is gone and its workloads are back.
    club = clubs.wait_condition(custom, namespace, "origin-fc", "Ready", "True", timeout=120)
    assert "restore.footballclub.io/clubrestore" not in (club["metadata"].get("annotations") or {})


def test_a_restore_of_a_backup_that_cannot_be_used_fails_and_changes_nothing(
    backed_up: dict[str, Any], custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    origin = backed_up["origin"]
    _add_players(origin, ["Kept"], "After")
    kept = _rows(origin)
    # Another club's backup is never restored into this one.
    _restore(custom, namespace, "wrong-club", "other-fc", "before-1")
    failed = _wait_restored(custom, namespace, "wrong-club")
    assert failed["phase"] == "Failed"
    assert failed["reason"] == "BackupUnusable"
    assert "before-1 is a backup of Club origin-fc, not of other-fc" in failed["message"]
    assert "safetyBackup" not in failed
    assert _rows(origin) == kept


def test_a_new_club_bootstrapped_from_the_backup_has_its_players_and_neither_sees_the_other(
    backed_up: dict[str, Any],
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
) -> None:
    origin = backed_up["origin"]
    source = {"fromBackup": {"clubName": "origin-fc", "backupName": "before-1"}}
    clubs.create_club(
        custom, namespace, crds.manifest("Club", {"displayName": "Clone FC", "bootstrap": source}, "clone-fc")
    )
    status = clubs.ready_status(custom, namespace, "clone-fc")
    assert status["bootstrap"]["clubName"] == "origin-fc"
    assert status["bootstrap"]["backupName"] == "before-1"
    bootstrapped = clubs.condition({"status": status}, "Bootstrapped")
    assert bootstrapped is not None
    assert bootstrapped["status"] == "True"
    assert bootstrapped["reason"] == "Restored"

    clone = _dsn(core, namespace, "clone-fc")
    originals, copies = _players(origin), _players(clone)
    # The same players, each with an id of its own.
    assert sorted(p[1:] for p in copies) == sorted(p[1:] for p in originals)
    assert len(copies) == 20
    assert {p[0] for p in copies}.isdisjoint({p[0] for p in originals})
    # Neither club's role sees the other's rows.
    with psycopg.connect(origin) as conn:
        seen = conn.execute("SELECT count(*) FROM players WHERE id = ANY(%s)", [[p[0] for p in copies]])
        assert seen.fetchone() == (0,)
    with psycopg.connect(clone) as conn:
        seen = conn.execute("SELECT count(*) FROM players WHERE id = ANY(%s)", [[p[0] for p in originals]])
        assert seen.fetchone() == (0,)

    # Through each club's API, configured from what the operator wrote for it: the clone serves the
    # backup's players under its own ids, the original its own and none of the clone's, and neither
    # API takes the other club's token.
    assert _api_environment(core, namespace, "clone-fc")["CLUB_ID"] == status["tenantId"]
    assert _api_environment(core, namespace, "origin-fc")["CLUB_ID"] == backed_up["tenant"]
    with (
        _club_api(core, namespace, "clone-fc") as clone_api,
        _club_api(core, namespace, "origin-fc") as origin_api,
    ):
        clone_auth = _login_as_owner(clone_api, core, namespace, "clone-fc")
        origin_auth = _login_as_owner(origin_api, core, namespace, "origin-fc")
        served, own = _api_players(clone_api, clone_auth), _api_players(origin_api, origin_auth)
        backed = [(p[1], p[2]) for p in originals]
        assert len(served) == len(own) == 20
        assert _names(served) == _names(own) == sorted(backed)
        served_ids, own_ids = {p["id"] for p in served}, {p["id"] for p in own}
        assert served_ids == {str(p[0]) for p in copies}
        assert own_ids == {str(p[0]) for p in originals}
        assert served_ids.isdisjoint(own_ids)
        for player in served[:3]:
            missing = origin_api.get(f"/api/v1/players/{player['id']}", headers=origin_auth)
            assert missing.status_code == 404, missing.text
        for player in own[:3]:
            missing = clone_api.get(f"/api/v1/players/{player['id']}", headers=clone_auth)
            assert missing.status_code == 404, missing.text
        refused = origin_api.get("/api/v1/players", headers=clone_auth)
        assert refused.status_code == 401, refused.text
        refused = clone_api.get("/api/v1/players", headers=origin_auth)
        assert refused.status_code == 401, refused.text

    # Done once: rows the clone writes afterwards stay through its resyncs (no second restore).
    _add_players(clone, ["Clone only"], "New")
    clubs.wait_reconciles(club_operator.metrics_port, namespace, "clone-fc", 2)
    assert len(_players(clone)) == 21
    # Nor can spec.bootstrap be removed (or added) afterwards.
    with pytest.raises(k8s.ApiException) as refused:
        custom.patch_namespaced_custom_object(
            crds.GROUP, crds.VERSION, namespace, "clubs", "clone-fc", {"spec": {"bootstrap": None}}
        )
    assert refused.value.status == 422
    assert "bootstrap can only be set when the Club is created" in str(refused.value.body)


def test_a_club_waits_for_a_backup_that_does_not_exist_yet(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    source = {"fromBackup": {"clubName": "nobody-fc", "backupName": "none-yet"}}
    clubs.create_club(
        custom, namespace, crds.manifest("Club", {"displayName": "Early FC", "bootstrap": source}, "early-fc")
    )
    club = clubs.wait_condition(
        custom, namespace, "early-fc", "Bootstrapped", "False", reason="BackupNotReady"
    )
    assert "Club nobody-fc does not exist" in clubs.condition(club, "Bootstrapped")["message"]  # type: ignore[index]
    workloads = clubs.condition(club, "WorkloadsReady")
    assert workloads is not None
    assert workloads["reason"] == "WaitingForBootstrap"
    # No workload starts on an empty tenant.
    deployments = k8s.AppsV1Api(core.api_client).list_namespaced_deployment(namespace)
    assert deployments.items == []


def test_an_operator_killed_mid_restore_goes_on_without_a_second_safety_backup(
    backed_up: dict[str, Any], club_operator: RunningOperator, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    origin, before = backed_up["origin"], backed_up["before"]
    _add_players(origin, ["Late"], "After")
    _restore(custom, namespace, "crashed", "origin-fc", "before-1")
    clubs.wait_for(
        "the restore to record its safety backup",
        lambda: _status(custom, namespace, "clubrestores", "crashed").get("safetyBackup"),
        timeout=60,
    )
    club_operator.kill()
    club_operator.start()

    done = _wait_restored(custom, namespace, "crashed")
    assert done["phase"] == "Succeeded", done
    assert _rows(origin) == before
    listed = custom.list_namespaced_custom_object(crds.GROUP, crds.VERSION, namespace, "clubbackups")
    safety = [o["metadata"]["name"] for o in listed["items"] if o["spec"].get("trigger") == "Safety"]
    assert safety == ["crashed-safety"]


def test_a_dedicated_club_starts_from_a_shared_clubs_backup_and_rolls_back_to_its_own(
    backed_up: dict[str, Any],
    stack: StackInfo,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
) -> None:
    """A database of its own: the clone crosses databases, and a rollback there empties and reloads
    the club's tables (the engine's path for a database no other club uses)."""
    spec = {
        "displayName": "Solo FC",
        "database": {"isolation": "dedicated"},
        "bootstrap": {"fromBackup": {"clubName": "origin-fc", "backupName": "before-1"}},
    }
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "solo-fc"))
    tenant = str(clubs.ready_status(custom, namespace, "solo-fc", timeout=180)["tenantId"])
    solo = _dsn(core, namespace, "solo-fc")
    assert "dbname=clubs " not in solo + " "  # its own database
    copies, originals = _players(solo), _players(backed_up["origin"])
    assert sorted(p[1:] for p in copies) == sorted(p[1:] for p in originals)
    assert {p[0] for p in copies}.isdisjoint({p[0] for p in originals})

    before = _rows(solo)
    _take_backup(stack, tenant, solo, "solo-1")
    crds.create(custom, namespace, crds.manifest("ClubBackup", {"clubRef": {"name": "solo-fc"}}, "solo-1"))
    clubs.wait_for(
        "ClubBackup solo-1 verified",
        lambda: _status(custom, namespace, "clubbackups", "solo-1").get("verified") is True,
        timeout=120,
    )
    with psycopg.connect(solo) as conn:
        conn.execute("DELETE FROM players WHERE first_name = 'Origin 7'")
    _add_players(solo, ["Solo 1"], "After")
    assert _rows(solo) != before

    _restore(custom, namespace, "solo-back", "solo-fc", "solo-1")
    done = _wait_restored(custom, namespace, "solo-back")
    assert done["phase"] == "Succeeded", done
    assert _rows(solo) == before
    assert len(_rows(backed_up["other"])["players"]) == 10


def test_a_club_restore_is_fixed_once_created_and_listed_as_crs(
    kube_api: k8s.ApiClient, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    served = k8s.ApiextensionsV1Api(kube_api).read_custom_resource_definition("clubrestores.footballclub.io")
    assert served.spec.names.short_names == ["crs"]
    columns = [c.name for c in served.spec.versions[0].additional_printer_columns]
    assert columns == ["Club", "Backup", "Phase", "Rows", "Age", "Safety", "Reason"]
    _restore(custom, namespace, "fixed", "some-fc", "some-backup")
    with pytest.raises(k8s.ApiException) as refused:
        custom.patch_namespaced_custom_object(
            crds.GROUP,
            crds.VERSION,
            namespace,
            "clubrestores",
            "fixed",
            {"spec": {"backupRef": {"name": "b"}}},
        )
    assert refused.value.status == 422
    assert "spec cannot change after creation" in str(refused.value.body)
    with pytest.raises(k8s.ApiException) as missing:
        crds.create(custom, namespace, crds.manifest("ClubRestore", {"clubRef": {"name": "some-fc"}}, "half"))
    assert missing.value.status == 422
    assert "backupRef" in str(missing.value.body)


def test_a_backup_corrupted_after_verify_fails_the_restore_and_the_club_is_resumed_unchanged(
    backed_up: dict[str, Any], stack: StackInfo, custom: k8s.CustomObjectsApi, namespace: str
) -> None:
    origin, tenant = backed_up["origin"], backed_up["tenant"]
    _take_backup(stack, tenant, origin, "spoiled-1")
    crds.create(
        custom, namespace, crds.manifest("ClubBackup", {"clubRef": {"name": "origin-fc"}}, "spoiled-1")
    )
    clubs.wait_for(
        "ClubBackup spoiled-1 verified",
        lambda: _status(custom, namespace, "clubbackups", "spoiled-1").get("verified") is True,
        timeout=120,
    )
    # A bit flipped in storage after verify passed it.
    s3 = stack.minio.client()
    key = contract.backup_table("clubs/", tenant, "spoiled-1", "players")
    data = bytearray(s3.get_object(Bucket=BACKUP_BUCKET, Key=key)["Body"].read())
    data[len(data) // 2] ^= 0xFF
    s3.put_object(Bucket=BACKUP_BUCKET, Key=key, Body=bytes(data))
    _add_players(origin, ["Kept 1"], "After")
    kept = _rows(origin)

    _restore(custom, namespace, "spoiled", "origin-fc", "spoiled-1")
    failed = _wait_restored(custom, namespace, "spoiled")
    assert failed["phase"] == "Failed", failed
    assert failed["reason"] == "RestoreFailed"
    assert "the club's rows are unchanged" in failed["message"]
    assert "players" in failed["message"]
    assert _rows(origin) == kept
    club = clubs.wait_condition(custom, namespace, "origin-fc", "Ready", "True", timeout=120)
    assert "restore.footballclub.io/clubrestore" not in (club["metadata"].get("annotations") or {})
