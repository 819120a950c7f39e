"""What the workload builders read: the Club's names and spec plus the few facts only the caller knows
(the image, a digest of the configuration, whether KEDA is installed, where Redis is).

The inputs hold no secret value at all: Secrets are referred to by name, and the pods read them
through `secretKeyRef`. The caller computes `config_hash` with `config_digest` over the ConfigMap's
data and the Secrets' data, so that a changed password or key set rolls the pods and nothing else
does."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from club_operator import credentials, naming
from club_operator.models import ClubSpec, Toleration, WorkerPool
from club_operator.redis_target import video_queues

Pool = Literal["default", "video"]
POOLS: tuple[Pool, ...] = ("default", "video")

API = "api"
CONFIG_HASH_ANNOTATION = f"{naming.GROUP}/config-hash"


def worker_component(pool: Pool) -> str:
    return f"worker-{pool}"


WORKER_COMPONENTS = tuple(worker_component(p) for p in POOLS)
CONFIG = "config"  # the component label of objects every workload shares (ConfigMap, Redis auth)
WORKERS = "workers"  # the component label of objects both worker pools share (their NetworkPolicy)


@dataclass(frozen=True)
class Destination:
    """A server the pods connect to: its host (a name or an IP address) and TCP port."""

    host: str
    port: int

    @property
    def network(self) -> str | None:
        """The host as a single-address CIDR ("10.0.0.5/32"), or None when it is a name."""
        try:
            address = ipaddress.ip_address(self.host.strip("[]"))
        except ValueError:
            return None
        return ipaddress.ip_network(address).compressed


_DEFAULT_PORTS = {"http": 80, "https": 443, "redis": 6379, "rediss": 6379, "postgresql": 5432}


def url_destination(url: str) -> Destination | None:
    """Where a URL (an S3 endpoint, a Redis URL) points; None when it names no host or a bad port."""
    try:
        parts = urllib.parse.urlsplit(url)
        port = parts.port or _DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None
    if not parts.hostname or port is None:
        return None
    return Destination(parts.hostname, port)


def host_destination(host: str | None, port: str | None) -> Destination | None:
    """A host and port as a Secret holds them (the port as text); None when either is missing."""
    if not host or not port or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return Destination(host, int(port))


def placement(
    spec: ClubSpec, node_selector: Mapping[str, str], tolerations: tuple[Toleration, ...]
) -> tuple[tuple[tuple[str, str], ...], tuple[Toleration, ...]]:
    """Where the Club's pods run, given the operator's placement: the Club's own nodeSelector
    (spec.runtime) replaces the operator's; its tolerations add to the operator's."""
    selector = spec.runtime.node_selector or node_selector
    return tuple(sorted(selector.items())), (*tolerations, *spec.runtime.tolerations)


@dataclass(frozen=True)
class WorkloadInputs:
    names: naming.ClubNames
    spec: ClubSpec
    owner: credentials.Owner
    image: str
    config_hash: str
    keda: bool
    """Whether KEDA's CRDs (ScaledObject, TriggerAuthentication) are installed."""
    redis_secret: str
    """A Secret in the Club's namespace with key `url` (REDIS_URL for the runtime, as the Club's own
    Redis user) and, for KEDA, `address` (host:port), `username` and `password`: KEDA's redis
    scaler takes no URL."""
    queue_default: str
    queue_video: str
    redis_prefix: str
    """RQ_KEY_PREFIX: every Redis key of the Club's pods starts with it (redis_target.club_prefix)."""
    api_port: int = 8000
    worker_metrics_port: int = 9100
    redis_database: int = 0
    """The database index in the REDIS_URL, which KEDA must be told separately."""
    keda_polling_interval: int = 15
    """KEDA's pollingInterval: how often it reads the queues, in seconds (OperatorSettings)."""
    keda_cooldown: int = 300
    """KEDA's cooldownPeriod: how long a pool stays up after its queues empty, in seconds."""
    video_timeout_sec: int = 3600
    """VIDEO_PROCESS_TIMEOUT_SEC: the longest a video job may run; video workers' grace period follows it."""
    tenant_id: str = ""
    """CLUB_ID: the club_id of the Club's rows and object keys; the Club's uid when empty (it differs
    only after the Club adopted an earlier Club's data, see ownership.py)."""
    servers: tuple[Destination, ...] = ()
    """The servers the pods connect to besides DNS (PostgreSQL, Redis, S3): their only egress."""
    worker_config_hash: str | None = None
    """The workers' digest, over the Secrets they read (no JWT key set, no owner account); None:
    `config_hash`, which is the API's."""
    node_selector: tuple[tuple[str, str], ...] = ()
    """Where every pod of the Club may run: spec.runtime.nodeSelector, else the operator's
    (OperatorSettings.pod_node_selector)."""
    tolerations: tuple[Toleration, ...] = ()
    """The taints every pod of the Club tolerates: the operator's (OperatorSettings.pod_tolerations)
    and spec.runtime.tolerations."""

    def pool(self, pool: Pool) -> WorkerPool:
        return self.spec.workers.video if pool == "video" else self.spec.workers.default

    def queues(self, pool: Pool) -> tuple[str, ...]:
        """The queues the pool's workers take jobs from, in order (see redis_target.video_queues)."""
        if pool == "video":
            return video_queues(self.queue_video, gpu_workers=self.spec.workers.video.gpu.enabled)
        return (self.queue_default,)

    def metadata(self, name: str, component: str) -> dict[str, Any]:
        """Metadata of an object owned by the Club: deleting the Club deletes it."""
        return {
            "name": name,
            "namespace": self.names.namespace,
            "labels": self.names.labels(component),
            "ownerReferences": [self.owner.reference()],
        }


def config_digest(config: Mapping[str, str], secrets: Mapping[str, Mapping[str, str]]) -> str:
    """A digest of the ConfigMap's data and each Secret's data ({secret name: {key: value}}).

    Order-independent and stable across processes; only the digest leaves this function."""
    canonical = json.dumps({"config": dict(config), "secrets": secrets}, sort_keys=True, default=dict)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]
