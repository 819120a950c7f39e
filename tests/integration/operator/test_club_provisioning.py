"""A Club becomes a working tenant: a login role that owns nothing and cannot bypass RLS, a bucket
with credentials of its own, Secrets owned by the Club, status conditions and Events, and no
secret anywhere it could leak."""

from __future__ import annotations

import json
import uuid
from typing import Any

import boto3
import psycopg
import pytest
from botocore.exceptions import ClientError
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

SECRETS = ("database", "storage", "jwt", "owner")


def _club(name: str, **spec: Any) -> dict[str, Any]:
    return crds.manifest("Club", {"displayName": name.title(), **spec}, name)


def _s3_client(data: dict[str, str]) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=data["endpoint"],
        aws_access_key_id=data["accessKeyId"],
        aws_secret_access_key=data["secretAccessKey"],
        region_name=data["region"],
    )


def test_a_minimal_club_becomes_ready_with_its_tenant_bucket_and_secrets(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
) -> None:
    manifest = crds.load_sample("club-minimal.yaml")
    name = manifest["metadata"]["name"]
    created = clubs.create_club(custom, namespace, manifest)
    club = clubs.wait_condition(custom, namespace, name, "Ready", "True")
    status = club["status"]
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == created["metadata"]["generation"]
    assert status["tenantId"] == created["metadata"]["uid"]
    for type_ in ("DatabaseReady", "TenantIsolationVerified", "StorageReady", "SecretsReady"):
        assert clubs.condition(club, type_)["status"] == "True", type_  # type: ignore[index]

    for suffix in SECRETS:
        secret = core.read_namespaced_secret(f"{name}-{suffix}", namespace)
        (owner,) = secret.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid, owner.controller) == (
            "Club",
            name,
            status["tenantId"],
            True,
        )

    db = clubs.secret_data(core, namespace, f"{name}-database")
    assert db["username"] == status["databaseRole"]
    with psycopg.connect(db["dsn"]) as conn:
        assert conn.execute("SELECT current_user, public.current_club_id()::text").fetchone() == (
            status["databaseRole"],
            status["tenantId"],
        )
    with psycopg.connect(stack.postgres.dsn()) as admin:
        role = admin.execute(
            "SELECT rolsuper, rolbypassrls, rolcreatedb, rolcreaterole, rolinherit"
            " FROM pg_roles WHERE rolname = %s",
            [status["databaseRole"]],
        ).fetchone()
        assert role == (False, False, False, False, False)

    s3 = clubs.secret_data(core, namespace, f"{name}-storage")
    assert s3["bucket"] == status["bucket"]
    own = _s3_client(s3)
    own.put_object(Bucket=s3["bucket"], Key="clubs/x/hello.txt", Body=b"hi")
    assert own.get_object(Bucket=s3["bucket"], Key="clubs/x/hello.txt")["Body"].read() == b"hi"

    (ready,) = clubs.wait_events(core, namespace, name, "AllReady")
    assert ready.message.startswith("Ready True")
    messages = [e.message for e in clubs.events(core, namespace, name)]
    assert any(m.startswith("created database") or "provisioned role" in m for m in messages)

    # No secret value appears in the status, the Events or the operator's log.
    leaks = [
        db["password"],
        s3["secretAccessKey"],
        *json.loads(clubs.secret_data(core, namespace, f"{name}-jwt")["keys"])["keys"].values(),
        clubs.secret_data(core, namespace, f"{name}-owner")["password"],
    ]
    exposed = json.dumps(status) + "\n".join(messages) + club_operator.log.read_text()
    for value in leaks:
        assert value not in exposed


def test_every_sample_club_becomes_ready(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
) -> None:
    # The full sample names its servers by Secret: give it the stack's.
    core.create_namespaced_secret(
        namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="postgres-admin"), string_data={"dsn": stack.postgres.dsn()}
        ),
    )
    core.create_namespaced_secret(
        namespace,
        k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="s3-admin"),
            string_data={
                "endpoint": stack.minio.endpoint,
                "accessKey": stack.minio.access_key,
                "secretKey": stack.minio.secret_key,
            },
        ),
    )
    samples = {
        n: crds.load_sample(f"{n}.yaml") for n in ("club-minimal", "club-dedicated", "club-full", "club-gpu")
    }
    for name in ("club-minimal", "club-dedicated", "club-full"):
        clubs.create_club(custom, namespace, samples[name])
    for name in ("club-minimal", "club-dedicated", "club-full"):
        club = clubs.wait_condition(
            custom, namespace, samples[name]["metadata"]["name"], "Ready", "True", timeout=120
        )
        assert club["status"]["phase"] == "Ready"
    # The stack's GPU node has one GPU and the full sample's video worker holds it: the GPU sample
    # gets it once the full sample is gone.
    full = samples["club-full"]["metadata"]["name"]
    custom.delete_namespaced_custom_object(clubs.GROUP, clubs.VERSION, namespace, clubs.PLURAL, full)
    clubs.wait_gone(custom, namespace, full)
    clubs.create_club(custom, namespace, samples["club-gpu"])
    gpu = samples["club-gpu"]["metadata"]["name"]
    assert (
        clubs.wait_condition(custom, namespace, gpu, "Ready", "True", timeout=120)["status"]["phase"]
        == "Ready"
    )
    dedicated = clubs.get_club(custom, namespace, samples["club-dedicated"]["metadata"]["name"]) or {}
    assert dedicated["spec"]["database"]["isolation"] == "dedicated"
    with psycopg.connect(stack.postgres.dsn()) as admin:
        assert admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [dedicated["status"]["databaseName"]]
        ).fetchone() == (1,)
    assert dedicated["status"]["databaseName"] != "clubs"


def test_a_second_club_cannot_read_the_firsts_rows_or_objects(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
) -> None:
    for name in ("alpha-town", "beta-city"):
        clubs.create_club(custom, namespace, _club(name))
    for name in ("alpha-town", "beta-city"):
        clubs.wait_condition(custom, namespace, name, "Ready", "True")
    alpha_db = clubs.secret_data(core, namespace, "alpha-town-database")
    beta_db = clubs.secret_data(core, namespace, "beta-city-database")
    with psycopg.connect(alpha_db["dsn"]) as conn:
        conn.execute(
            "INSERT INTO public.seasons (name, starts_on, ends_on) VALUES ('alpha only', '2026-07-01', "
            "'2027-06-30')"
        )
        alpha_id = conn.execute("SELECT public.current_club_id()").fetchone()[0]  # type: ignore[index]
    with psycopg.connect(beta_db["dsn"]) as conn:
        assert conn.execute(
            "SELECT count(*) FROM public.seasons WHERE club_id = %s", [alpha_id]
        ).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM public.seasons WHERE name = 'alpha only'").fetchone() == (
            0,
        )
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(
                "INSERT INTO public.seasons (club_id, name, starts_on, ends_on) "
                "VALUES (%s, 'smuggled', '2026-07-01', '2027-06-30')",
                [alpha_id],
            )

    alpha_s3 = clubs.secret_data(core, namespace, "alpha-town-storage")
    beta_s3 = clubs.secret_data(core, namespace, "beta-city-storage")
    _s3_client(alpha_s3).put_object(Bucket=alpha_s3["bucket"], Key="private.txt", Body=b"alpha")
    beta = _s3_client(beta_s3)
    for attempt in (
        lambda: beta.get_object(Bucket=alpha_s3["bucket"], Key="private.txt"),
        lambda: beta.list_objects_v2(Bucket=alpha_s3["bucket"]),
        lambda: beta.put_object(Bucket=alpha_s3["bucket"], Key=f"{uuid.uuid4()}", Body=b"x"),
    ):
        with pytest.raises(ClientError) as denied:
            attempt()
        assert denied.value.response["Error"]["Code"] == "AccessDenied"
