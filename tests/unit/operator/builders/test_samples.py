"""The sample Clubs give the expected objects; GPU scheduling lands on video workers only."""

from __future__ import annotations

from club_operator.builders import api_service, worker_deployment
from club_operator.builders.inputs import CONFIG_HASH_ANNOTATION, placement
from club_operator.models import Toleration

from .support import NAMESPACE, UID, all_objects, container, deployments, inputs, kinds


def test_the_full_sample_with_keda_gives_every_object() -> None:
    assert kinds(inputs("club-full.yaml")) == {
        ("ConfigMap", "meadowbank-rovers-config"),
        ("Deployment", "meadowbank-rovers-api"),
        ("Service", "meadowbank-rovers-api"),
        ("HorizontalPodAutoscaler", "meadowbank-rovers-api"),
        ("PodDisruptionBudget", "meadowbank-rovers-api"),
        ("NetworkPolicy", "meadowbank-rovers-api"),
        ("NetworkPolicy", "meadowbank-rovers-workers"),
        ("TriggerAuthentication", "meadowbank-rovers-redis"),
        ("Deployment", "meadowbank-rovers-worker-default"),
        ("ScaledObject", "meadowbank-rovers-worker-default"),
        ("Deployment", "meadowbank-rovers-worker-video"),
        ("ScaledObject", "meadowbank-rovers-worker-video"),
    }


def test_the_minimal_sample_has_fixed_api_replicas_and_no_api_hpa() -> None:
    made = inputs("club-minimal.yaml", keda=False)
    assert kinds(made) == {
        ("ConfigMap", "riverside-fc-config"),
        ("Deployment", "riverside-fc-api"),
        ("Service", "riverside-fc-api"),
        ("PodDisruptionBudget", "riverside-fc-api"),
        ("NetworkPolicy", "riverside-fc-api"),
        ("NetworkPolicy", "riverside-fc-workers"),
        ("Deployment", "riverside-fc-worker-default"),
        ("HorizontalPodAutoscaler", "riverside-fc-worker-default"),
        ("Deployment", "riverside-fc-worker-video"),
        ("HorizontalPodAutoscaler", "riverside-fc-worker-video"),
    }
    api = deployments(made)["api"]
    assert api["spec"]["replicas"] == 2
    assert container(api)["resources"] == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_every_object_is_owned_by_the_club_and_labelled() -> None:
    for obj in all_objects(inputs()):
        meta = obj["metadata"]
        assert meta["namespace"] == NAMESPACE
        (ref,) = meta["ownerReferences"]
        assert (ref["kind"], ref["name"], ref["uid"], ref["controller"]) == (
            "Club",
            "meadowbank-rovers",
            UID,
            True,
        )
        assert meta["labels"]["app.kubernetes.io/name"] == "club-platform"
        assert meta["labels"]["footballclub.io/club"] == "meadowbank-rovers"
        assert meta["labels"]["app.kubernetes.io/component"]


def test_gpu_video_workers_ask_for_the_gpu_and_tolerate_its_node() -> None:
    for sample in ("club-full.yaml", "club-gpu.yaml"):
        video = deployments(inputs(sample))["worker-video"]
        pod = video["spec"]["template"]["spec"]
        assert container(video)["resources"]["limits"]["nvidia.com/gpu"] == "1"
        assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
        assert {"key": "nvidia.com/gpu", "effect": "NoSchedule"}.items() <= pod["tolerations"][0].items()
        assert {"name": "ENABLE_GPU", "value": "auto"} in container(video)["env"]
        # A surge pod would wait for the GPU the old pod holds: remove one, then add one.
        assert video["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": 0, "maxUnavailable": 1}


def test_tolerations_are_kubernetes_shaped() -> None:
    pod = deployments(inputs("club-full.yaml"))["worker-video"]["spec"]["template"]["spec"]
    assert pod["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {
            "key": "node.kubernetes.io/unreachable",
            "operator": "Exists",
            "effect": "NoExecute",
            "tolerationSeconds": 300,
        },
    ]
    gpu = deployments(inputs("club-gpu.yaml"))["worker-video"]["spec"]["template"]["spec"]
    assert gpu["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
    ]


def test_default_workers_and_cpu_video_workers_never_take_a_gpu() -> None:
    for sample in ("club-full.yaml", "club-gpu.yaml", "club-minimal.yaml", "club-dedicated.yaml"):
        found = deployments(inputs(sample))
        candidates = [found["worker-default"]] + (
            [] if sample in ("club-full.yaml", "club-gpu.yaml") else [found["worker-video"]]
        )
        for worker in candidates:
            pod = worker["spec"]["template"]["spec"]
            assert "nvidia.com/gpu" not in container(worker).get("resources", {}).get("limits", {})
            assert "nodeSelector" not in pod
            assert "tolerations" not in pod
            assert {"name": "ENABLE_GPU", "value": "false"} in container(worker)["env"]


def test_workers_run_their_own_queues_with_metrics_and_a_tcp_liveness_check() -> None:
    made = inputs()  # club-full: GPU video workers
    video = made.queue_video
    found = deployments(made)
    expected = {"default": made.queue_default, "video": f"{video}.gpu,{video}.high,{video},{video}.low"}
    for pool in ("default", "video"):
        main = container(found[f"worker-{pool}"])
        assert main["command"] == [
            "club-runtime",
            "worker",
            "--queues",
            expected[pool],
            "--metrics-port",
            "9100",
        ]
        assert main["ports"] == [{"name": "metrics", "containerPort": 9100, "protocol": "TCP"}]
        assert main["livenessProbe"]["tcpSocket"] == {"port": "metrics"}
        assert "readinessProbe" not in main


def test_cpu_video_workers_never_listen_on_the_gpu_only_queue() -> None:
    made = inputs("club-minimal.yaml")
    video = made.queue_video
    command = container(deployments(made)["worker-video"])["command"]
    assert command[command.index("--queues") + 1] == f"{video}.high,{video},{video}.low"


def test_the_grace_period_outlasts_the_longest_job() -> None:
    made = inputs(video_timeout_sec=1800)
    found = deployments(made)
    video = found["worker-video"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    default = found["worker-default"]["spec"]["template"]["spec"]["terminationGracePeriodSeconds"]
    assert video == 1800 + worker_deployment.SHUTDOWN_MARGIN
    assert default == worker_deployment.RQ_DEFAULT_JOB_TIMEOUT + worker_deployment.SHUTDOWN_MARGIN


def test_the_api_runs_on_its_port_behind_the_service_with_probes() -> None:
    made = inputs(api_port=8080)
    api = deployments(made)["api"]
    main = container(api)
    assert main["command"] == ["club-runtime", "api", "--host", "0.0.0.0", "--port", "8080"]  # noqa: S104
    assert main["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert main["imagePullPolicy"] == "IfNotPresent"
    assert main["image"] == "club-runtime:0.1.0"
    assert main["resources"] == {
        "requests": {"cpu": "200m", "memory": "256Mi"},
        "limits": {"cpu": "1", "memory": "512Mi"},
    }
    service = api_service.build_api_service(made)
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]
    assert service["spec"]["selector"] == api["spec"]["selector"]["matchLabels"]
    assert (
        api["spec"]["selector"]["matchLabels"].items()
        <= api["spec"]["template"]["metadata"]["labels"].items()
    )
    assert api_service.api_endpoint(made.names) == "http://meadowbank-rovers-api.team-a.svc:80"


def test_pod_templates_carry_the_config_hash() -> None:
    for deployment in deployments(inputs()).values():
        assert deployment["spec"]["template"]["metadata"]["annotations"] == {CONFIG_HASH_ANNOTATION: "c0ffee"}


def test_the_platforms_placement_goes_on_every_pod_and_a_gpu_pool_names_its_own_nodes() -> None:
    platform = Toleration.model_validate({"key": "clubs", "operator": "Exists", "effect": "NoSchedule"})
    made = inputs("club-gpu.yaml", node_selector=(("pool", "clubs"),), tolerations=(platform,))
    found = deployments(made)
    for name in ("api", "worker-default"):
        pod = found[name]["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"pool": "clubs"}
        assert pod["tolerations"] == [{"key": "clubs", "operator": "Exists", "effect": "NoSchedule"}]
    video = found["worker-video"]["spec"]["template"]["spec"]
    gpu = made.spec.workers.video.gpu
    assert gpu.node_selector
    assert video["nodeSelector"] == gpu.node_selector
    assert video["tolerations"][0] == {"key": "clubs", "operator": "Exists", "effect": "NoSchedule"}
    assert video["tolerations"][1:] == [t.to_dict() for t in gpu.tolerations]


def test_without_a_placement_no_pod_names_a_node() -> None:
    for name, deployment in deployments(inputs("club-minimal.yaml")).items():
        pod = deployment["spec"]["template"]["spec"]
        assert "nodeSelector" not in pod, name
        assert "tolerations" not in pod, name


def test_a_clubs_own_placement_replaces_the_platforms_node_selector_and_adds_tolerations() -> None:
    platform = Toleration.model_validate({"key": "clubs", "operator": "Exists", "effect": "NoSchedule"})
    own = inputs("club-full.yaml").spec
    selector, tolerations = placement(own, {"pool": "clubs"}, (platform,))
    assert dict(selector) == own.runtime.node_selector
    assert tolerations == (platform, *own.runtime.tolerations)
    bare = inputs("club-minimal.yaml").spec
    assert placement(bare, {"pool": "clubs"}, (platform,)) == ((("pool", "clubs"),), (platform,))
