"""The e2e suite's cluster from the environment (tests/support/e2e_cluster.py): what `make kind-e2e`
sets becomes the operator's settings; a half-described cluster is refused with the missing names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support import e2e_cluster

KIND_ENV = {
    "CLUB_E2E_KUBECONFIG": "/kube/config",
    "CLUB_E2E_RUNTIME_IMAGE": "club-runtime:e2e",
    "CLUB_E2E_OPERATOR_IMAGE": "club-operator:e2e",
    "CLUB_E2E_DATABASE_ADMIN_DSN": "postgresql://postgres:pw@postgres.club-servers.svc:5432/postgres",
    "CLUB_E2E_S3_ENDPOINT": "http://minio.club-servers.svc:9000",
    "CLUB_E2E_S3_ACCESS_KEY": "admin",
    "CLUB_E2E_S3_SECRET_KEY": "s3-secret",
    "CLUB_E2E_REDIS_URL": "redis://redis.club-servers.svc:6379/0",
}


def test_no_kubeconfig_means_the_local_stack() -> None:
    assert e2e_cluster.from_environment({"CLUB_E2E_RUNTIME_IMAGE": "x"}) is None


def test_a_described_cluster_becomes_the_operators_settings() -> None:
    cluster = e2e_cluster.from_environment(KIND_ENV)
    assert cluster is not None
    assert cluster.kubeconfig == Path("/kube/config")
    assert (cluster.runtime_image, cluster.operator_image) == ("club-runtime:e2e", "club-operator:e2e")
    env = cluster.operator_env
    assert env["CLUB_OPERATOR_DATABASE_ADMIN_DSN"] == KIND_ENV["CLUB_E2E_DATABASE_ADMIN_DSN"]
    assert env["CLUB_OPERATOR_S3_ENDPOINT"] == "http://minio.club-servers.svc:9000"
    assert env["CLUB_OPERATOR_S3_ACCESS_KEY"] == "admin"
    assert env["CLUB_OPERATOR_S3_SECRET_KEY"] == "s3-secret"
    assert env["CLUB_OPERATOR_REDIS_URL"] == KIND_ENV["CLUB_E2E_REDIS_URL"]
    assert env["CLUB_OPERATOR_DEFAULT_RUNTIME_IMAGE"] == "club-runtime:e2e"
    assert "CLUB_OPERATOR_POD_NODE_SELECTOR" not in env  # anywhere the cluster schedules it
    assert cluster.pod_placement() == {}
    assert cluster.namespace_prefix == "e2e"
    assert "s3-secret" not in repr(cluster)  # the settings are credentials


def test_placement_reaches_the_suites_pods_and_the_clubs() -> None:
    toleration = {"key": "pool", "operator": "Exists", "effect": "NoSchedule"}
    env = KIND_ENV | {
        "CLUB_E2E_NODE_SELECTOR": '{"pool": "clubs"}',
        "CLUB_E2E_TOLERATIONS": json.dumps([toleration]),
    }
    cluster = e2e_cluster.from_environment(env)
    assert cluster is not None
    assert cluster.pod_placement() == {"nodeSelector": {"pool": "clubs"}, "tolerations": [toleration]}
    assert json.loads(cluster.operator_env["CLUB_OPERATOR_POD_NODE_SELECTOR"]) == {"pool": "clubs"}
    assert json.loads(cluster.operator_env["CLUB_OPERATOR_POD_TOLERATIONS"]) == [toleration]


def test_a_half_described_cluster_is_refused_with_what_is_missing() -> None:
    env = {k: v for k, v in KIND_ENV.items() if k not in ("CLUB_E2E_REDIS_URL", "CLUB_E2E_S3_SECRET_KEY")}
    with pytest.raises(e2e_cluster.ClusterConfigError) as refused:
        e2e_cluster.from_environment(env)
    assert "CLUB_E2E_S3_SECRET_KEY, CLUB_E2E_REDIS_URL" in str(refused.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [("CLUB_E2E_NODE_SELECTOR", "{pool"), ("CLUB_E2E_NODE_SELECTOR", "[]"), ("CLUB_E2E_TOLERATIONS", '"x"')],
)
def test_bad_placement_json_is_refused(name: str, value: str) -> None:
    with pytest.raises(e2e_cluster.ClusterConfigError, match=name):
        e2e_cluster.from_environment(KIND_ENV | {name: value})


def test_the_local_stack_puts_every_pod_on_its_real_node() -> None:
    taint = {"key": "footballclub.io/node-pool", "value": "real", "effect": "NoSchedule"}
    cluster = e2e_cluster.from_stack(
        Path("/s/kubeconfig"),
        "127.0.0.1:5000/club-runtime:0.1.0-abc",
        "127.0.0.1:5000/club-operator:0.1.0-abc",
        {"CLUB_OPERATOR_REDIS_URL": "redis://10.201.0.1:1/0"},
        {"footballclub.io/node-pool": "real"},
        taint,
    )
    assert cluster.pod_placement()["nodeSelector"] == {"footballclub.io/node-pool": "real"}
    assert cluster.pod_placement()["tolerations"] == [taint | {"operator": "Equal"}]
    assert cluster.operator_env["CLUB_OPERATOR_DEFAULT_RUNTIME_IMAGE"].endswith("club-runtime:0.1.0-abc")
    assert cluster.namespace_prefix == "node-e2e"  # the session's shared operator leaves node-* alone
