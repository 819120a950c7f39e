"""Each Club runs its platform: API and worker Deployments placed by the real scheduler (GPU video
workers on the GPU node only), autoscalers, a PDB and NetworkPolicies; secret changes roll the pods
and nothing else does; drift is repaired; suspend scales to zero and resume brings it back."""

from __future__ import annotations

import re
import subprocess
from typing import Any

from kubernetes import client as k8s

from club_devstack import nodes, tools
from club_devstack.stack import StackInfo
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

CONFIG_HASH = "footballclub.io/config-hash"


def _ready(custom: k8s.CustomObjectsApi, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    clubs.create_club(custom, namespace, manifest)
    return clubs.wait_condition(custom, namespace, manifest["metadata"]["name"], "Ready", "True", timeout=120)


def _pods(core: k8s.CoreV1Api, namespace: str, component: str) -> list[k8s.V1Pod]:
    selector = f"app.kubernetes.io/component={component}"
    return [
        p
        for p in core.list_namespaced_pod(namespace, label_selector=selector).items
        if p.metadata.deletion_timestamp is None
    ]


def _operator_write_time(obj: Any) -> list[Any]:
    """When the operator last wrote the object (its managedFields entry): changes only on a write."""
    return sorted(str(f.time) for f in obj.metadata.managed_fields or [] if f.manager == "club-operator")


def test_workloads_are_created_and_reported(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
    stack: StackInfo,
) -> None:
    club = _ready(custom, namespace, crds.manifest("Club", {"displayName": "Busy"}, "busy-fc"))
    assert clubs.condition(club, "WorkloadsReady")["status"] == "True"  # type: ignore[index]
    assert club["status"]["apiEndpoint"] == f"http://busy-fc-api.{namespace}.svc:80"
    apps = k8s.AppsV1Api(kube_api)
    names = {d.metadata.name for d in apps.list_namespaced_deployment(namespace).items}
    assert names == {"busy-fc-api", "busy-fc-worker-default", "busy-fc-worker-video"}
    api = apps.read_namespaced_deployment("busy-fc-api", namespace)
    assert api.status.available_replicas == 2
    pod = api.spec.template.spec
    assert pod.security_context.run_as_non_root
    (main,) = pod.containers
    assert main.security_context.read_only_root_filesystem
    assert main.security_context.allow_privilege_escalation is False
    assert main.liveness_probe.http_get.path == "/healthz"
    assert main.readiness_probe.http_get.path == "/readyz"
    env = {e.name: e for e in main.env}
    assert env["DATABASE_URL"].value_from.secret_key_ref.name == "busy-fc-database"
    assert core.read_namespaced_service("busy-fc-api", namespace).spec.ports[0].port == 80
    policy = k8s.PolicyV1Api(kube_api).read_namespaced_pod_disruption_budget("busy-fc-api", namespace)
    assert policy.spec.max_unavailable == 1
    netpols = {
        n.metadata.name: n
        for n in k8s.NetworkingV1Api(kube_api).list_namespaced_network_policy(namespace).items
    }
    for name in ("busy-fc-api", "busy-fc-workers"):
        spec = netpols[name].spec
        assert spec.policy_types == ["Ingress", "Egress"]
        allowed = {(p.protocol, p.port) for rule in spec.egress for p in rule.ports}
        # DNS, and the stack's PostgreSQL, Redis and MinIO on their ports: nothing else.
        assert allowed == {
            ("UDP", 53),
            ("TCP", 53),
            ("TCP", stack.postgres.port),
            ("TCP", stack.redis.port),
            ("TCP", int(stack.minio.endpoint.rsplit(":", 1)[1])),
        }
        # The stack's servers share one address (the host's): each is allowed at that address only.
        assert {b.ip_block.cidr for rule in spec.egress for b in rule.to or []} == {
            f"{stack.postgres.host}/32"
        }
    video = apps.read_namespaced_deployment("busy-fc-worker-video", namespace).spec.template.spec
    (scratch,) = video.volumes
    assert scratch.empty_dir.size_limit == "10Gi"
    assert "JWT_KEYS" not in {e.name for e in video.containers[0].env}
    hpas = {
        h.metadata.name
        for h in k8s.AutoscalingV2Api(kube_api).list_namespaced_horizontal_pod_autoscaler(namespace).items
    }
    assert {"busy-fc-worker-default", "busy-fc-worker-video"} <= hpas


def test_gpu_video_workers_land_only_on_the_gpu_node(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    manifest = crds.load_sample("club-gpu.yaml")
    name = manifest["metadata"]["name"]
    _ready(custom, namespace, manifest)
    (video,) = _pods(core, namespace, "worker-video")
    assert video.spec.node_name in nodes.gpu_node_names()
    assert video.status.phase == "Running"
    assert video.spec.containers[0].resources.limits["nvidia.com/gpu"] == "1"
    for component in ("api", "worker-default"):
        for pod in _pods(core, namespace, component):
            assert pod.spec.node_name in nodes.CPU_NODES, (component, pod.spec.node_name)
    assert name


def test_a_secret_change_rolls_the_pods_and_no_change_rolls_nothing(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
) -> None:
    _ready(custom, namespace, crds.manifest("Club", {"displayName": "Rolling"}, "rolling-fc"))
    apps = k8s.AppsV1Api(kube_api)

    def template_hashes() -> dict[str, tuple[str, int]]:
        return {
            d.metadata.name: (d.spec.template.metadata.annotations[CONFIG_HASH], d.metadata.generation)
            for d in apps.list_namespaced_deployment(namespace).items
        }

    before = template_hashes()
    clubs.wait_reconciles(club_operator.metrics_port, namespace, "rolling-fc", 3)
    assert template_hashes() == before  # resyncs with nothing changed roll nothing

    # Rotate the JWT key set by hand: the API gets a new template hash and rolls. The workers
    # read no JWT key, so the same reconcile leaves their templates (and running jobs) alone.
    core.patch_namespaced_secret(
        "rolling-fc-jwt",
        namespace,
        {"stringData": {"keys": '{"active": "k2", "keys": {"k2": "' + "x" * 48 + '"}}'}},
    )
    api = "rolling-fc-api"
    after = clubs.wait_for(
        "the API's Deployment to get a new config hash",
        lambda: (now := template_hashes()) and now[api][0] != before[api][0] and now,
        timeout=club_operator.resync_sec * 10,
    )
    assert after[api][1] == before[api][1] + 1
    workers = {n for n in before if n != api}
    assert workers == {"rolling-fc-worker-default", "rolling-fc-worker-video"}
    assert {n: after[n] for n in workers} == {n: before[n] for n in workers}


def test_drift_in_a_workload_is_repaired(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
) -> None:
    _ready(custom, namespace, crds.manifest("Club", {"displayName": "Drift"}, "drift-fc"))
    apps = k8s.AppsV1Api(kube_api)
    original = core.read_namespaced_service("drift-fc-api", namespace).spec.ports[0].target_port
    apps.delete_namespaced_deployment("drift-fc-worker-default", namespace)
    core.patch_namespaced_service(
        "drift-fc-api", namespace, {"spec": {"ports": [{"port": 80, "targetPort": 9999}]}}
    )
    assert core.read_namespaced_service("drift-fc-api", namespace).spec.ports[0].target_port == 9999

    def repaired() -> bool:
        try:
            apps.read_namespaced_deployment("drift-fc-worker-default", namespace)
        except k8s.ApiException:
            return False
        return bool(
            core.read_namespaced_service("drift-fc-api", namespace).spec.ports[0].target_port == original
        )

    clubs.wait_for(
        "the deleted Deployment and the edited Service to be restored",
        repaired,
        timeout=club_operator.resync_sec * 10,
    )


def test_suspend_scales_to_zero_and_resume_brings_the_workloads_back(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
) -> None:
    _ready(custom, namespace, crds.manifest("Club", {"displayName": "Napping"}, "napping-fc"))
    apps = k8s.AppsV1Api(kube_api)
    crds.patch(custom, namespace, "Club", "napping-fc", {"spec": {"suspend": True}})
    clubs.wait_condition(custom, namespace, "napping-fc", "WorkloadsReady", "False", reason="Suspended")
    clubs.wait_for(
        "every Deployment at 0 replicas and no pod left",
        lambda: (
            all(d.spec.replicas == 0 for d in apps.list_namespaced_deployment(namespace).items)
            and not core.list_namespaced_pod(namespace).items
        ),
    )
    hpas = k8s.AutoscalingV2Api(kube_api).list_namespaced_horizontal_pod_autoscaler(namespace).items
    assert hpas == []
    crds.patch(custom, namespace, "Club", "napping-fc", {"spec": {"suspend": False}})
    clubs.wait_condition(custom, namespace, "napping-fc", "Ready", "True", timeout=120)
    assert apps.read_namespaced_deployment("napping-fc-api", namespace).status.available_replicas == 2


def test_steady_state_leaves_every_workload_unwritten(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    kube_api: k8s.ApiClient,
    namespace: str,
) -> None:
    _ready(custom, namespace, crds.manifest("Club", {"displayName": "Still"}, "still-fc"))
    apps = k8s.AppsV1Api(kube_api)
    scaling = k8s.AutoscalingV2Api(kube_api)

    def writes() -> dict[str, list[Any]]:
        marks: dict[str, list[Any]] = {}
        for d in apps.list_namespaced_deployment(namespace).items:
            marks[f"deploy/{d.metadata.name}"] = _operator_write_time(d)
        for h in scaling.list_namespaced_horizontal_pod_autoscaler(namespace).items:
            marks[f"hpa/{h.metadata.name}"] = _operator_write_time(h)
        for c in core.list_namespaced_config_map(
            namespace, label_selector="footballclub.io/club=still-fc"
        ).items:
            marks[f"cm/{c.metadata.name}"] = _operator_write_time(c)
        marks["svc"] = _operator_write_time(core.read_namespaced_service("still-fc-api", namespace))
        return marks

    clubs.wait_reconciles(club_operator.metrics_port, namespace, "still-fc", 1)  # creation settled
    before = writes()
    assert all(before.values()), before
    clubs.wait_reconciles(club_operator.metrics_port, namespace, "still-fc", 3)
    assert writes() == before


def _kubectl(stack: StackInfo, *args: str) -> None:
    subprocess.run(
        [str(stack.kubectl), "--kubeconfig", str(stack.kube.kubeconfig), *args],
        check=True,
        capture_output=True,
        text=True,
    )


def test_with_keda_workers_scale_on_queue_length_and_without_it_on_cpu(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    kube_api: k8s.ApiClient,
    namespace: str,
    stack: StackInfo,
) -> None:
    _ready(custom, namespace, crds.manifest("Club", {"displayName": "Queued"}, "queued-fc"))
    scaling = k8s.AutoscalingV2Api(kube_api)

    def worker_hpas() -> set[str]:
        return {
            h.metadata.name
            for h in scaling.list_namespaced_horizontal_pod_autoscaler(namespace).items
            if "worker" in h.metadata.name
        }

    def scaled_objects() -> list[dict[str, Any]]:
        listed = custom.list_namespaced_custom_object("keda.sh", "v1alpha1", namespace, "scaledobjects")
        return list(listed["items"])

    assert worker_hpas() == {"queued-fc-worker-default", "queued-fc-worker-video"}
    keda_crds = tools.bindir("keda")
    _kubectl(stack, "apply", "--server-side", "-f", str(keda_crds))
    try:
        _kubectl(stack, "wait", "--for=condition=Established", "-f", str(keda_crds))
        found = clubs.wait_for(
            "ScaledObjects for both worker pools",
            lambda: len(scaled_objects()) == 2 and scaled_objects(),
            timeout=club_operator.resync_sec * 10,
        )
        clubs.wait_for(
            "the worker HPAs to be gone", lambda: not worker_hpas(), timeout=club_operator.resync_sec * 10
        )
        video_object = next(s for s in found if s["metadata"]["name"] == "queued-fc-worker-video")
        triggers = {t["metadata"]["listName"]: t for t in video_object["spec"]["triggers"]}
        video = f"{namespace}.queued-fc.video"
        assert set(triggers) == {
            f"club:{namespace}.queued-fc:{kind}:{queue}"
            for queue in (f"{video}.high", video, f"{video}.low")
            for kind in ("queue", "wip")
        }
        assert all(t["authenticationRef"]["name"] for t in triggers.values())
        # The composite formula survives the CRD's schema, and a resync finds nothing to rewrite.
        formula = video_object["spec"]["advanced"]["scalingModifiers"]["formula"]
        assert set(re.findall(r"[a-z]+[0-9]+", formula)) == {t["name"] for t in triggers.values()}
        versions = {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in scaled_objects()}
        clubs.wait_reconciles(club_operator.metrics_port, namespace, "queued-fc", 2)
        assert {o["metadata"]["name"]: o["metadata"]["resourceVersion"] for o in scaled_objects()} == versions
        auths = custom.list_namespaced_custom_object(
            "keda.sh", "v1alpha1", namespace, "triggerauthentications"
        )
        assert len(auths["items"]) == 1
    finally:
        _kubectl(stack, "delete", "-f", str(keda_crds), "--wait=true")
    clubs.wait_for(
        "the CPU HPAs to come back without KEDA",
        lambda: worker_hpas() == {"queued-fc-worker-default", "queued-fc-worker-video"},
        timeout=club_operator.resync_sec * 10,
    )


def test_the_longest_name_the_crd_accepts_reaches_ready(
    club_operator: RunningOperator, custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str
) -> None:
    name = "l" + "-o" * 31  # 63 characters: every object named after it must still be valid
    club = _ready(custom, namespace, crds.manifest("Club", {"displayName": "Longest"}, name))
    assert club["status"]["phase"] == "Ready"
    service = club["status"]["apiEndpoint"].removeprefix("http://").split(".")[0]
    assert len(service) <= 63
    assert core.read_namespaced_service(service, namespace).metadata.labels["footballclub.io/club"] == name
