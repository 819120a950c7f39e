"""What the API and worker pods share: their environment, a restricted security context and the pod
template around one container.

Environment: the ConfigMap through envFrom, every credential through `secretKeyRef` to the Club's
Secrets (never a value). A pod gets only the keys it uses: the JWT key set and the bootstrap owner's
credentials go to the API only (workers neither sign nor verify tokens, nor log in).

Security: the pods meet the Pod Security Standard "restricted" (non-root uid 10001, no privilege
escalation, all capabilities dropped, RuntimeDefault seccomp) with a read-only root filesystem; /tmp
is an emptyDir, where the workers' ffmpeg writes its scratch files, limited to the pool's
`scratchSize` (the kubelet evicts a pod that writes more, so one video cannot fill the node's disk).
The pods never call the Kubernetes API, so no service account token is mounted.

The config hash sits in the pod template's annotations: a new hash rolls the pods, an unchanged one
leaves the template equal and rolls nothing. Each pod's hash covers the Secrets it reads
(`secrets_read`), so a new JWT key set rolls the API and leaves the workers and their jobs alone."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from club_operator import credentials
from club_operator.builders.inputs import CONFIG_HASH_ANNOTATION, WorkloadInputs
from club_operator.models import Toleration

RUN_AS = 10001
TMP_VOLUME = "tmp"


def _secret_env(env: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def env_from(inputs: WorkloadInputs) -> list[dict[str, Any]]:
    return [{"configMapRef": {"name": inputs.names.config_map}}]


def container_env(inputs: WorkloadInputs, *, api: bool) -> list[dict[str, Any]]:
    """The credentials, each from its Secret; `api` adds the JWT key set and the bootstrap owner."""
    names = inputs.names
    env = [
        _secret_env("DATABASE_URL", names.database_secret, "dsn"),
        _secret_env("REDIS_URL", inputs.redis_secret, "url"),
        _secret_env("S3_ENDPOINT_URL", names.storage_secret, "endpoint"),
        _secret_env("S3_REGION", names.storage_secret, "region"),
        _secret_env("S3_ACCESS_KEY_ID", names.storage_secret, "accessKeyId"),
        _secret_env("S3_SECRET_ACCESS_KEY", names.storage_secret, credentials.STORAGE_SECRET_KEY),
    ]
    if api:
        env += [
            _secret_env("JWT_KEYS", names.jwt_secret, credentials.JWT_KEYS),
            _secret_env("BOOTSTRAP_OWNER_EMAIL", names.owner_secret, "email"),
            _secret_env("BOOTSTRAP_OWNER_PASSWORD", names.owner_secret, credentials.OWNER_PASSWORD),
        ]
    return env


def secrets_read(inputs: WorkloadInputs, *, api: bool) -> frozenset[str]:
    """The names of the Secrets a pod reads (through its env): the ones whose change must roll it."""
    return frozenset(
        e["valueFrom"]["secretKeyRef"]["name"] for e in container_env(inputs, api=api) if "valueFrom" in e
    )


def container_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def pod_security_context() -> dict[str, Any]:
    return {
        "runAsNonRoot": True,
        "runAsUser": RUN_AS,
        "runAsGroup": RUN_AS,
        "fsGroup": RUN_AS,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container(
    inputs: WorkloadInputs, name: str, command: list[str], *, api: bool, **fields: Any
) -> dict[str, Any]:
    """One runtime container; `fields` adds ports, probes, resources and extra env (camelCase keys).

    `command` is exec'd directly (no shell), so the runtime is PID 1 and receives SIGTERM itself."""
    extra_env: list[dict[str, Any]] = fields.pop("env", [])
    return {
        "name": name,
        "image": inputs.image,
        "imagePullPolicy": inputs.spec.runtime.image_pull_policy.value,
        "command": command,
        "envFrom": env_from(inputs),
        "env": container_env(inputs, api=api) + extra_env,
        **fields,
        "securityContext": container_security_context(),
        "volumeMounts": [{"name": TMP_VOLUME, "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
    }


def scratch_volume(size_limit: str | None) -> dict[str, Any]:
    """The emptyDir mounted at /tmp; `size_limit` (a quantity) caps what the pod may write there."""
    return {"name": TMP_VOLUME, "emptyDir": {} if size_limit is None else {"sizeLimit": size_limit}}


def pod_template(
    inputs: WorkloadInputs,
    component: str,
    main: dict[str, Any],
    *,
    scratch_size: str | None = None,
    config_hash: str | None = None,
    node_selector: Mapping[str, str] | None = None,
    tolerations: Sequence[Toleration] = (),
    **spec: Any,
) -> dict[str, Any]:
    """The pod template around `main`; `scratch_size` limits /tmp; `config_hash` replaces the
    inputs' (the API's); `node_selector` replaces the platform's (the inputs': a GPU pool names its
    own nodes), `tolerations` add to the platform's; `spec` adds other pod-level fields."""
    selector = dict(node_selector or inputs.node_selector)
    tolerated = [t.to_dict() for t in (*inputs.tolerations, *tolerations)]
    if selector:
        spec["nodeSelector"] = dict(sorted(selector.items()))
    if tolerated:
        spec["tolerations"] = tolerated
    return {
        "metadata": {
            "labels": inputs.names.labels(component),
            "annotations": {CONFIG_HASH_ANNOTATION: config_hash or inputs.config_hash},
        },
        "spec": {
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": pod_security_context(),
            "containers": [main],
            "volumes": [scratch_volume(scratch_size)],
            **spec,
        },
    }
