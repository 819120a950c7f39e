"""The cluster the e2e suite runs on: any cluster, described by the environment, or else the local stack.

A cluster is a kubeconfig, the runtime and operator images its nodes can pull (or hold, as kind's do
after `kind load docker-image`), and the servers the clubs use (PostgreSQL, S3, Redis) at addresses
its pods reach: the operator's settings. `make kind-e2e` sets these for a kind cluster:

    CLUB_E2E_KUBECONFIG          the cluster's kubeconfig (this one selects the mode)
    CLUB_E2E_RUNTIME_IMAGE       the runtime image, as pods name it
    CLUB_E2E_OPERATOR_IMAGE      the operator image
    CLUB_E2E_DATABASE_ADMIN_DSN  PostgreSQL admin DSN      (the operator's CLUB_OPERATOR_DATABASE_ADMIN_DSN)
    CLUB_E2E_S3_ENDPOINT         S3 endpoint URL            (CLUB_OPERATOR_S3_ENDPOINT)
    CLUB_E2E_S3_ACCESS_KEY       S3 admin access key        (CLUB_OPERATOR_S3_ACCESS_KEY)
    CLUB_E2E_S3_SECRET_KEY       S3 admin secret key        (CLUB_OPERATOR_S3_SECRET_KEY)
    CLUB_E2E_REDIS_URL           Redis URL                  (CLUB_OPERATOR_REDIS_URL)
    CLUB_E2E_NODE_SELECTOR       optional JSON object: where every pod of the suite runs
    CLUB_E2E_TOLERATIONS         optional JSON list of tolerations for those pods

Without CLUB_E2E_KUBECONFIG the suite uses the local stack with its real node (`from_stack`): the
same settings, derived from the stack, so the same tests run either way."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "CLUB_E2E_"
KUBECONFIG = f"{PREFIX}KUBECONFIG"
# Required with KUBECONFIG: suite variable -> the operator's setting it becomes (None: not one).
REQUIRED: dict[str, str | None] = {
    f"{PREFIX}RUNTIME_IMAGE": None,
    f"{PREFIX}OPERATOR_IMAGE": None,
    f"{PREFIX}DATABASE_ADMIN_DSN": "CLUB_OPERATOR_DATABASE_ADMIN_DSN",
    f"{PREFIX}S3_ENDPOINT": "CLUB_OPERATOR_S3_ENDPOINT",
    f"{PREFIX}S3_ACCESS_KEY": "CLUB_OPERATOR_S3_ACCESS_KEY",
    f"{PREFIX}S3_SECRET_KEY": "CLUB_OPERATOR_S3_SECRET_KEY",
    f"{PREFIX}REDIS_URL": "CLUB_OPERATOR_REDIS_URL",
}
NODE_SELECTOR = f"{PREFIX}NODE_SELECTOR"
TOLERATIONS = f"{PREFIX}TOLERATIONS"

# Short intervals so that the operator notices what a test does within the test.
OPERATOR_TIMING = {"CLUB_OPERATOR_RESYNC_INTERVAL_SEC": "10", "CLUB_OPERATOR_RETRY_DELAY_SEC": "2"}


class ClusterConfigError(ValueError):
    """The environment names a cluster but describes it incompletely or wrongly."""


@dataclass(frozen=True)
class Cluster:
    """What the suite needs of a cluster. `operator_env` holds credentials: never print it."""

    kubeconfig: Path
    runtime_image: str
    operator_image: str
    operator_env: dict[str, str] = field(repr=False)
    node_selector: dict[str, str]
    tolerations: list[dict[str, Any]]
    # The suite's namespaces start with this (the local stack's shared operator leaves `node-*` alone).
    namespace_prefix: str = "e2e"

    def pod_placement(self) -> dict[str, Any]:
        """The nodeSelector and tolerations of a pod spec, for every pod the suite runs."""
        placement: dict[str, Any] = {}
        if self.node_selector:
            placement["nodeSelector"] = dict(self.node_selector)
        if self.tolerations:
            placement["tolerations"] = [dict(t) for t in self.tolerations]
        return placement


def operator_env(
    servers: Mapping[str, str],
    runtime_image: str,
    node_selector: Mapping[str, str],
    tolerations: list[dict[str, Any]],
) -> dict[str, str]:
    """The operator's settings: its servers (CLUB_OPERATOR_*), the runtime image every Club runs, and
    the placement of the Clubs' pods, which is the suite's own."""
    env = dict(servers) | OPERATOR_TIMING | {"CLUB_OPERATOR_DEFAULT_RUNTIME_IMAGE": runtime_image}
    if node_selector:
        env["CLUB_OPERATOR_POD_NODE_SELECTOR"] = json.dumps(dict(node_selector))
    if tolerations:
        env["CLUB_OPERATOR_POD_TOLERATIONS"] = json.dumps(tolerations)
    return env


def _json(env: Mapping[str, str], name: str, kind: type) -> Any:
    raw = env.get(name, "").strip()
    if not raw:
        return kind()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ClusterConfigError(f"{name} is not JSON: {exc}") from None
    if not isinstance(value, kind):
        raise ClusterConfigError(f"{name} must be a JSON {'object' if kind is dict else 'list'}")
    return value


def from_environment(env: Mapping[str, str]) -> Cluster | None:
    """The cluster the environment describes; None when it names none (CLUB_E2E_KUBECONFIG unset)."""
    kubeconfig = env.get(KUBECONFIG, "").strip()
    if not kubeconfig:
        return None
    missing = [name for name in REQUIRED if not env.get(name, "").strip()]
    if missing:
        raise ClusterConfigError(f"{KUBECONFIG} is set, so these must be too: {', '.join(missing)}")
    node_selector = _json(env, NODE_SELECTOR, dict)
    tolerations = _json(env, TOLERATIONS, list)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in node_selector.items()):
        raise ClusterConfigError(f"{NODE_SELECTOR} must map label names to strings")
    if not all(isinstance(t, dict) for t in tolerations):
        raise ClusterConfigError(f"{TOLERATIONS} must be a list of objects")
    servers = {setting: env[name] for name, setting in REQUIRED.items() if setting is not None}
    runtime_image = env[f"{PREFIX}RUNTIME_IMAGE"]
    return Cluster(
        kubeconfig=Path(kubeconfig).expanduser(),
        runtime_image=runtime_image,
        operator_image=env[f"{PREFIX}OPERATOR_IMAGE"],
        operator_env=operator_env(servers, runtime_image, node_selector, tolerations),
        node_selector=node_selector,
        tolerations=tolerations,
    )


def from_stack(
    kubeconfig: Path,
    runtime_image: str,
    operator_image: str,
    servers: Mapping[str, str],
    node_labels: Mapping[str, str],
    node_taint: Mapping[str, str],
) -> Cluster:
    """The local stack as a cluster: every pod on its real node (the only one that runs pods; kwok's
    nodes simulate them), which carries `node_labels` and `node_taint`."""
    tolerations = [
        {
            "key": node_taint["key"],
            "operator": "Equal",
            "value": node_taint["value"],
            "effect": node_taint["effect"],
        }
    ]
    return Cluster(
        kubeconfig=kubeconfig,
        runtime_image=runtime_image,
        operator_image=operator_image,
        operator_env=operator_env(servers, runtime_image, node_labels, tolerations),
        node_selector=dict(node_labels),
        tolerations=tolerations,
        namespace_prefix="node-e2e",
    )
