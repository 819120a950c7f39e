"""The chart in charts/club-operator against the stack's API server: `helm lint`, `helm template` for
a matrix of values with every object applied as a server-side dry run (the API server validates and
admits it, stores nothing), and its RBAC in step with what the operator pod runs with
(club_devstack.operator_pod.RULES, proven by tests/integration/node/test_operator_pod.py)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client as k8s

from club_devstack import operator_pod, tools
from club_devstack.stack import StackInfo
from club_operator.monitoring import dashboards
from tests.support import helm


def _grants(rules: list[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def _kinds(items: list[dict[str, Any]]) -> list[str]:
    return sorted(f"{o['kind']}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}" for o in items)


@pytest.fixture
def namespaces(kube_api: k8s.ApiClient) -> Iterator[list[str]]:
    """Three namespaces of this test's own (the release's and two to watch), deleted afterwards."""
    core = k8s.CoreV1Api(kube_api)
    names = [f"chart-{uuid.uuid4().hex[:10]}" for _ in range(3)]
    for name in names:
        core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield names
    for name in names:
        core.delete_namespace(name, propagation_policy="Background")


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"watchNamespaces": ["a", "b"]},
        {
            "admission": {
                "allowedImagePrefixes": ["registry.example/"],
                "validationActions": ["Warn", "Audit"],
            }
        },
        {
            "crds": {"install": False},
            "admission": {"enabled": False},
            "podDisruptionBudget": {"enabled": False},
        },
        {"leaderElection": {"enabled": False}, "replicas": 1},
        {"dashboards": {"enabled": True, "annotations": {"grafana_folder": "Clubs"}}},
    ],
)
def test_helm_lint(values: dict[str, Any]) -> None:
    done = helm.helm("lint", "--strict", str(helm.CHART), "--kube-version", helm.kubernetes_version(),
                     *helm.value_args(values))  # fmt: skip
    assert "0 chart(s) failed" in done.stdout


@pytest.mark.parametrize(
    "values",
    [
        pytest.param({"metrics": {"port": 8081}}, id="metrics-on-the-health-port"),
        pytest.param(
            {"replicas": 2, "leaderElection": {"enabled": False}}, id="two-replicas-without-a-lease"
        ),
        pytest.param({"admission": {"validationActions": ["Refuse"]}}, id="unknown-action"),
        pytest.param({"settings": {"env": {"DATABASE_URL": "x"}}}, id="unprefixed-setting"),
        pytest.param({"watchNamespaces": "team-a"}, id="namespaces-as-a-string"),
    ],
)
def test_values_outside_the_schema_are_refused(values: dict[str, Any]) -> None:
    done = helm.helm("template", "x", str(helm.CHART), "--kube-version", helm.kubernetes_version(),
                     *helm.value_args(values), check=False)  # fmt: skip
    assert done.returncode != 0
    assert "values don't meet the specifications of the schema" in done.stderr


def test_each_dashboard_is_a_configmap_labelled_for_grafanas_sidecar() -> None:
    def configmaps(values: dict[str, Any], namespace: str = "club-system") -> list[dict[str, Any]]:
        rendered = helm.objects(helm.render(values, namespace=namespace))
        return [o for o in rendered if o["kind"] == "ConfigMap" and "-dashboard-" in o["metadata"]["name"]]

    assert not configmaps({})
    maps = configmaps(
        {"dashboards": {"enabled": True, "label": "grafana.example/dashboard", "labelValue": "yes"}}, "ops"
    )
    shipped = {p.name: p.read_text() for p in (helm.CHART / "files" / "dashboards").glob("*.json")}
    assert len(shipped) == len(dashboards.BUILDERS)
    assert {name for m in maps for name in m["data"]} == set(shipped)
    for found in maps:
        assert found["metadata"]["namespace"] == "ops"
        assert found["metadata"]["labels"]["grafana.example/dashboard"] == "yes"
        ((name, text),) = found["data"].items()
        assert json.loads(text) == json.loads(shipped[name])  # carried verbatim, not rendered by Helm


def _pod_grants() -> set[tuple[str, str, str]]:
    """What the operator pod runs with (operator_pod.RULES), less namespaces: kopf reads those only
    when it watches a list of namespaces."""
    return {g for g in _grants([dict(rule) for rule in operator_pod.RULES]) if g[:2] != ("", "namespaces")}


def test_the_cluster_role_grants_what_the_operator_pod_runs_with() -> None:
    (role,) = [o for o in helm.objects(helm.render({})) if o["kind"] == "ClusterRole"]
    assert _grants(role["rules"]) == _pod_grants()
    assert not any("*" in grant for grant in _grants(role["rules"]))


def test_a_namespaced_install_grants_roles_in_the_watched_namespaces_only() -> None:
    items = helm.objects(helm.render({"watchNamespaces": ["team-a", "team-b"]}, namespace="ops"))
    (cluster_role,) = [o for o in items if o["kind"] == "ClusterRole"]
    assert _grants(cluster_role["rules"]) == {
        ("apiextensions.k8s.io", "customresourcedefinitions", verb) for verb in ("get", "list", "watch")
    } | {("", "namespaces", verb) for verb in ("list", "watch")}
    roles = {o["metadata"]["namespace"]: o for o in items if o["kind"] == "Role" and not _leases(o)}
    bindings = {o["metadata"]["namespace"]: o for o in items if o["kind"] == "RoleBinding" and not _leases(o)}
    assert set(roles) == set(bindings) == {"team-a", "team-b"}
    everything = {g for g in _pod_grants() if g[:2] != ("apiextensions.k8s.io", "customresourcedefinitions")}
    for role in roles.values():
        assert _grants(role["rules"]) == everything
    (deployment,) = [o for o in items if o["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"][:4] == ["--namespace", "team-a", "--namespace", "team-b"]
    bound = {(b["kind"], b["metadata"].get("namespace")): b for b in items if b["kind"].endswith("Binding")}
    selector = bound[("ValidatingAdmissionPolicyBinding", None)]["spec"]["matchResources"][
        "namespaceSelector"
    ]
    assert selector == {
        "matchExpressions": [
            {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["team-a", "team-b"]}
        ]
    }


def test_the_crds_are_kept_on_uninstall_and_pods_run_restricted() -> None:
    items = helm.objects(helm.render({}))
    crds = [o for o in items if o["kind"] == "CustomResourceDefinition"]
    assert {o["metadata"]["name"] for o in crds} == {
        "clubs.footballclub.io", "videojobs.footballclub.io",
        "clubbackups.footballclub.io", "clubrestores.footballclub.io",
    }  # fmt: skip
    assert all(o["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep" for o in crds)
    (deployment,) = [o for o in items if o["kind"] == "Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert not [o for o in items if o["kind"] in {"ServiceMonitor", "PrometheusRule"}]


def _leases(role_or_binding: dict[str, Any]) -> bool:
    return str(role_or_binding["metadata"]["name"]).endswith("-leader-election")


def _env(deployment: dict[str, Any]) -> dict[str, Any]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_two_replicas_elect_a_leader_through_a_lease_of_the_release_namespace_only() -> None:
    items = helm.objects(
        helm.render({"watchNamespaces": ["team-a"]}, release="club-operator", namespace="ops")
    )
    (deployment,) = [o for o in items if o["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    env = _env(deployment)
    assert env["CLUB_OPERATOR_LEADER_ELECTION"] == "true"
    assert env["CLUB_OPERATOR_LEADER_LEASE_NAME"] == "club-operator"
    assert env["CLUB_OPERATOR_LEADER_LEASE_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert env["CLUB_OPERATOR_LEADER_IDENTITY"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    pod = deployment["spec"]["template"]["spec"]
    (spread,) = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert (
        spread["podAffinityTerm"]["labelSelector"]["matchLabels"]
        == deployment["spec"]["selector"]["matchLabels"]
    )
    (pdb,) = [o for o in items if o["kind"] == "PodDisruptionBudget"]
    assert pdb["spec"]["minAvailable"] == 1
    assert "maxUnavailable" not in pdb["spec"]
    # The Lease: a Role of the release's namespace, not the ClusterRole nor the watched namespaces'.
    (role,) = [o for o in items if o["kind"] == "Role" and _leases(o)]
    (binding,) = [o for o in items if o["kind"] == "RoleBinding" and _leases(o)]
    assert role["metadata"]["namespace"] == binding["metadata"]["namespace"] == "ops"
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert _grants(role["rules"]) == {
        ("coordination.k8s.io", "leases", v) for v in ("create", "get", "update")
    }
    assert [r.get("resourceNames") for r in role["rules"] if "get" in r["verbs"]] == [["club-operator"]]
    for other in [o for o in items if o["kind"] in {"Role", "ClusterRole"} and not _leases(o)]:
        assert not {g for g in _grants(other["rules"]) if g[0] == "coordination.k8s.io"}


def test_without_leader_election_one_pod_is_replaced_with_recreate() -> None:
    items = helm.objects(helm.render({"leaderElection": {"enabled": False}, "replicas": 1}))
    (deployment,) = [o for o in items if o["kind"] == "Deployment"]
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert not [name for name in _env(deployment) if name.startswith("CLUB_OPERATOR_LEADER_")]
    assert "affinity" not in deployment["spec"]["template"]["spec"]
    (pdb,) = [o for o in items if o["kind"] == "PodDisruptionBudget"]
    assert pdb["spec"]["maxUnavailable"] == 1  # a drain may move the single pod
    assert not [o for o in items if o["kind"] in {"Role", "RoleBinding"}]


def _matrix(other: str, watched: str) -> list[dict[str, Any]]:
    return [
        {},
        {
            "watchNamespaces": [other, watched],
            "settings": {"secret": {"CLUB_OPERATOR_REDIS_URL": "redis://r:6379/0"}},
        },
        {
            "settings": {"existingSecret": "servers", "env": {"CLUB_OPERATOR_S3_ENDPOINT": "http://s3:9000"}},
            "admission": {
                "allowedImagePrefixes": ["registry.example/club-runtime:"],
                "allowedGpuResourceNames": ["nvidia.com/gpu", "amd.com/gpu"],
                "validationActions": ["Warn", "Audit"],
                "namespaceSelector": {"matchLabels": {"clubs": "true"}},
            },
            "nodeSelector": {"pool": "ops"},
            "tolerations": [{"key": "ops", "operator": "Exists", "effect": "NoSchedule"}],
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        },
        {
            "crds": {"install": False},
            "admission": {"enabled": False},
            "podDisruptionBudget": {"enabled": False},
            "metrics": {"service": {"enabled": False}},
            "replicas": 0,
        },
        {"admission": {"serverSecretLabel": "", "allowedGpuResourceNames": []}},
        {"leaderElection": {"enabled": False}, "replicas": 1, "watchNamespaces": [watched]},
        {
            "metrics": {
                "serviceMonitor": {"enabled": True, "interval": "15s", "labels": {"release": "prom"}},
                "podMonitor": {"enabled": True, "labels": {"release": "prom"}},
            },
            "prometheusRule": {"enabled": True, "labels": {"release": "prom"}},
        },
        {"dashboards": {"enabled": True, "namespace": other, "label": "grafana.example/dashboard"}},
    ]


@pytest.fixture
def monitoring_crds(stack: StackInfo) -> None:
    """The Prometheus operator's CRDs (ServiceMonitor, PodMonitor, PrometheusRule) on the stack, from
    its module (hack/tools.sh), so the chart's monitoring objects meet the real schemas. Left
    installed: nothing in the project acts on them, and another test may use them."""
    files = sorted(tools.bindir("prometheus-operator").glob("monitoring.coreos.com_*.yaml"))
    if not files:
        pytest.fail("the Prometheus operator's CRDs are missing: run `make tools` (hack/tools.sh)")
    for path in files:
        helm.kubectl(stack, "apply", "--server-side", "--field-manager=club-chart-tests", "-f", str(path))
    names = [f"crd/{path.name.split('_')[1].removesuffix('.yaml')}.monitoring.coreos.com" for path in files]
    helm.kubectl(stack, "wait", "--for=condition=Established", "--timeout=60s", *names)


@pytest.mark.usefixtures("monitoring_crds")
def test_each_rendering_of_the_matrix_is_accepted_by_the_api_server(
    stack: StackInfo, namespaces: list[str]
) -> None:
    release_ns, other, watched = namespaces
    monitored = set()
    for values in _matrix(other, watched):
        release = f"club-{uuid.uuid4().hex[:6]}"
        items = helm.objects(helm.render(values, release=release, namespace=release_ns))
        kinds = {o["kind"] for o in items}
        assert {"Deployment", "ServiceAccount", "ClusterRole", "ClusterRoleBinding"} <= kinds
        monitored |= kinds & {"ServiceMonitor", "PrometheusRule"}
        done = helm.apply(stack, items, dry_run=True)
        applied = [line for line in done.stdout.splitlines() if line.strip()]
        assert len(applied) == len(items), (values, _kinds(items), done.stdout)
        assert all(line.endswith("serverside-applied (server dry run)") for line in applied), done.stdout
    # The PrometheusRule wraps files/prometheus-rules.yaml, generated from the operator's code.
    rules = (helm.CHART / "files" / "prometheus-rules.yaml").exists()
    assert monitored == ({"ServiceMonitor", "PrometheusRule"} if rules else {"ServiceMonitor"})


def test_install_as_a_server_dry_run_prints_the_next_commands(
    stack: StackInfo, namespaces: list[str]
) -> None:
    release_ns, other, watched = namespaces
    values = {
        "watchNamespaces": [other, watched],
        "admission": {"allowedImagePrefixes": ["registry.example/"]},
    }
    done = helm.helm("install", "club-operator", str(helm.CHART), "-n", release_ns, "--dry-run=server",
                     "--take-ownership", *helm.value_args(values), stack=stack)  # fmt: skip
    notes = done.stdout.split("NOTES:", 1)[1]
    assert f"kubectl -n {release_ns} rollout status deployment/club-operator" in notes
    assert f"watching only: {other}, {watched}" in notes
    assert "No servers are configured yet" in notes
    assert f"kubectl apply -n {other} -f config/samples/club-minimal.yaml" in notes
    assert "spec.runtime.image starts with one of: registry.example/" in notes
    assert "kubectl label secret <name> footballclub.io/server-secret=true" in notes
