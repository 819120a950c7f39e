"""Pods: deterministic, restricted, configured by reference to the Club's Secrets, rolled by the hash."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from club_operator import naming
from club_operator.builders import config_map, network_policy, pod
from club_operator.builders import inputs as inputs_module
from club_operator.builders.inputs import CONFIG_HASH_ANNOTATION, WorkloadInputs

from .support import UID, all_objects, container, deployments, inputs


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    """The paths where two JSON-like values differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b)) for p in _diff(a.get(k), b.get(k), f"{path}/{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b, strict=True)) for p in _diff(x, y, f"{path}/{i}")]
    return [] if a == b else [path]


def test_builders_are_deterministic() -> None:
    for sample in ("club-full.yaml", "club-minimal.yaml", "club-gpu.yaml"):
        first, second = all_objects(inputs(sample)), all_objects(inputs(sample))
        assert first == second
        assert json.dumps(first, sort_keys=True) == json.dumps(second, sort_keys=True)


def test_a_new_config_hash_changes_only_the_pod_template_annotation() -> None:
    before = inputs()
    after = dataclasses.replace(before, config_hash="d00d")
    changed = [p for a, b in zip(all_objects(before), all_objects(after), strict=True) for p in _diff(a, b)]
    annotation = f"/spec/template/metadata/annotations/{CONFIG_HASH_ANNOTATION}"
    assert changed == [annotation] * 3  # the API and both worker pools


def test_workers_roll_on_their_own_hash_over_the_secrets_they_read() -> None:
    made = inputs()
    names = made.names
    every = {names.database_secret, made.redis_secret, names.storage_secret}
    assert pod.secrets_read(made, api=False) == every
    assert pod.secrets_read(made, api=True) == every | {names.jwt_secret, names.owner_secret}
    split = dataclasses.replace(made, worker_config_hash="beef")
    annotations = {
        component: d["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH_ANNOTATION]
        for component, d in deployments(split).items()
    }
    assert annotations == {"api": "c0ffee", "worker-default": "beef", "worker-video": "beef"}


def test_the_config_digest_follows_the_data_and_nothing_else() -> None:
    config = {"CLUB_ID": UID, "LOG_LEVEL": "INFO"}
    secrets = {"club-jwt": {"keys": "k1"}, "club-database": {"dsn": "d", "password": "p"}}
    digest = inputs_module.config_digest(config, secrets)
    assert digest == inputs_module.config_digest(
        dict(reversed(config.items())), dict(reversed(secrets.items()))
    )
    assert digest != inputs_module.config_digest(config, {**secrets, "club-jwt": {"keys": "k2"}})
    assert digest != inputs_module.config_digest({**config, "LOG_LEVEL": "DEBUG"}, secrets)
    assert "k1" not in digest


def test_pods_run_restricted() -> None:
    for deployment in deployments(inputs()).values():
        pod = deployment["spec"]["template"]["spec"]
        main = container(deployment)
        context = main["securityContext"]
        assert context["runAsNonRoot"] is True
        assert context["runAsUser"] == 10001
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert context["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert pod["automountServiceAccountToken"] is False
        assert main["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]  # noqa: S108


def test_a_worker_is_not_pid_1_so_a_sigterm_while_it_starts_stops_it() -> None:
    shared = {
        c: d["spec"]["template"]["spec"].get("shareProcessNamespace")
        for c, d in deployments(inputs()).items()
    }
    assert shared == {"api": None, "worker-default": True, "worker-video": True}


def test_the_workers_tmp_is_limited_to_the_pools_scratch_size() -> None:
    found = deployments(inputs())  # the full sample: 2Gi for default workers, 20Gi for video
    volumes = {component: d["spec"]["template"]["spec"]["volumes"] for component, d in found.items()}
    assert volumes["worker-default"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "2Gi"}}]
    assert volumes["worker-video"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "20Gi"}}]
    assert volumes["api"] == [{"name": "tmp", "emptyDir": {}}]  # uploads spool here: no pool limit
    defaults = deployments(inputs("club-minimal.yaml"))
    for component, size in (("worker-default", "1Gi"), ("worker-video", "10Gi")):
        (volume,) = defaults[component]["spec"]["template"]["spec"]["volumes"]
        assert volume["emptyDir"] == {"sizeLimit": size}
        # /tmp is the only writable place: the root filesystem stays read-only.
        assert container(defaults[component])["securityContext"]["readOnlyRootFilesystem"] is True


def _secret_refs(main: dict[str, Any]) -> dict[str, tuple[str, str]]:
    return {
        e["name"]: (e["valueFrom"]["secretKeyRef"]["name"], e["valueFrom"]["secretKeyRef"]["key"])
        for e in main["env"]
        if "valueFrom" in e
    }


def test_credentials_come_from_the_clubs_secrets() -> None:
    made = inputs()
    names = made.names
    found = deployments(made)
    shared = {
        "DATABASE_URL": (names.database_secret, "dsn"),
        "REDIS_URL": ("meadowbank-rovers-redis", "url"),
        "S3_ENDPOINT_URL": (names.storage_secret, "endpoint"),
        "S3_REGION": (names.storage_secret, "region"),
        "S3_ACCESS_KEY_ID": (names.storage_secret, "accessKeyId"),
        "S3_SECRET_ACCESS_KEY": (names.storage_secret, "secretAccessKey"),
    }
    owner = {
        "JWT_KEYS": (names.jwt_secret, "keys"),
        "BOOTSTRAP_OWNER_EMAIL": (names.owner_secret, "email"),
        "BOOTSTRAP_OWNER_PASSWORD": (names.owner_secret, "password"),
    }
    assert _secret_refs(container(found["api"])) == shared | owner
    for pool in ("worker-default", "worker-video"):
        assert _secret_refs(container(found[pool])) == shared
    for deployment in found.values():
        main = container(deployment)
        assert main["envFrom"] == [{"configMapRef": {"name": "meadowbank-rovers-config"}}]
    # The only literal value is the workers' GPU mode; everything secret is a reference.
    assert [e["name"] for e in container(found["api"])["env"] if "value" in e] == []
    for pool in ("worker-default", "worker-video"):
        assert [e["name"] for e in container(found[pool])["env"] if "value" in e] == ["ENABLE_GPU"]


def test_workers_get_no_reference_to_the_jwt_or_owner_secret() -> None:
    made = inputs()
    for pool in ("worker-default", "worker-video"):
        text = json.dumps(deployments(made)[pool])
        assert made.names.jwt_secret not in text
        assert made.names.owner_secret not in text
        assert "JWT_KEYS" not in text


def test_inputs_hold_no_secret_value() -> None:
    fields = {f.name for f in dataclasses.fields(WorkloadInputs)}
    assert not {f for f in fields if any(w in f for w in ("password", "dsn", "key", "token", "url"))}


def test_the_config_map_holds_the_runtimes_plain_settings() -> None:
    made = inputs()
    cm = config_map.build_config_map(made)
    assert cm["metadata"]["name"] == "meadowbank-rovers-config"
    assert cm["data"] == {
        "CLUB_ID": UID,
        "CLUB_SLUG": "meadowbank-rovers",
        "QUEUE_DEFAULT": made.queue_default,
        "QUEUE_VIDEO": made.queue_video,
        "RQ_KEY_PREFIX": "club:team-a.meadowbank-rovers",
        "S3_BUCKET": "meadowbank-rovers-media",
        "UPLOAD_MAX_SIZE_MB": "2048",
        "VIDEO_PROCESS_TIMEOUT_SEC": "3600",
        "LOG_LEVEL": "INFO",
        "API_PORT": "8000",
        "WORKER_METRICS_PORT": "9100",
    }
    assert all(isinstance(v, str) for v in cm["data"].values())


def test_network_policies_admit_only_the_api_port_and_the_metrics_port() -> None:
    made = inputs()
    api = network_policy.build_api_network_policy(made)
    assert api["spec"]["podSelector"] == {"matchLabels": made.names.selector("api")}
    assert api["spec"]["policyTypes"] == ["Ingress", "Egress"]
    assert api["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 8000}]}]
    workers = network_policy.build_worker_network_policy(made)
    assert workers["spec"]["ingress"] == [{"ports": [{"protocol": "TCP", "port": 9100}]}]
    selector = workers["spec"]["podSelector"]
    assert selector["matchLabels"] == {
        "app.kubernetes.io/name": "club-platform",
        "footballclub.io/club": "meadowbank-rovers",
    }
    assert selector["matchExpressions"] == [
        {"key": "app.kubernetes.io/component", "operator": "In", "values": ["worker-default", "worker-video"]}
    ]
    values = selector["matchExpressions"][0]["values"]
    for component, deployment in deployments(made).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels.items() >= selector["matchLabels"].items()
        assert (labels["app.kubernetes.io/component"] in values) == component.startswith("worker-")


DNS = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def test_egress_goes_only_to_dns_and_the_clubs_servers() -> None:
    made = inputs()
    expected = [
        DNS,
        {"to": [{"ipBlock": {"cidr": "10.20.0.5/32"}}], "ports": [{"protocol": "TCP", "port": 5432}]},
        {"ports": [{"protocol": "TCP", "port": 6379}]},  # a hostname: its port, at any address
        {"to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}], "ports": [{"protocol": "TCP", "port": 443}]},
    ]
    for policy in (
        network_policy.build_api_network_policy(made),
        network_policy.build_worker_network_policy(made),
    ):
        assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
        assert policy["spec"]["egress"] == expected


def test_egress_names_each_server_once_and_only_dns_when_none_is_known() -> None:
    same = inputs_module.Destination("db.example.org", 5432)
    made = inputs(servers=(same, same, inputs_module.Destination("::1", 6379)))
    assert network_policy.egress_rules(made) == [
        DNS,
        {"ports": [{"protocol": "TCP", "port": 5432}]},
        {"to": [{"ipBlock": {"cidr": "::1/128"}}], "ports": [{"protocol": "TCP", "port": 6379}]},
    ]
    assert network_policy.egress_rules(inputs(servers=())) == [DNS]


def test_servers_are_read_from_urls_and_secrets() -> None:
    dest = inputs_module.Destination
    url = inputs_module.url_destination
    assert url("https://s3.eu-west-1.amazonaws.com") == dest("s3.eu-west-1.amazonaws.com", 443)
    assert url("http://127.0.0.1:9000") == dest("127.0.0.1", 9000)
    assert url("http://minio") == dest("minio", 80)
    assert url("redis://:pw@10.0.0.7/3") == dest("10.0.0.7", 6379)
    assert url("rediss://[::1]:6380/0") == dest("::1", 6380)
    assert url("http://host:99999") is None
    assert url("not a url") is None
    assert url("") is None
    host = inputs_module.host_destination
    assert host("10.0.0.5", "5433") == dest("10.0.0.5", 5433)
    assert host("db", None) is None
    assert host(None, "5432") is None
    assert host("db", "0") is None
    assert host("db", "abc") is None
    assert dest("db.example.org", 5432).network is None
    assert dest("10.0.0.5", 5432).network == "10.0.0.5/32"


def test_long_club_names_give_valid_object_names() -> None:
    made = inputs()
    long = naming.build_names("ns", "c" * 63, made.spec, "clubs")
    for name in (
        long.api,
        long.api_service,
        long.config_map,
        long.worker("default"),
        long.worker("video"),
        long.redis_trigger_auth,
    ):
        assert len(name) <= 63
    assert long.worker("default") != long.worker("video")
