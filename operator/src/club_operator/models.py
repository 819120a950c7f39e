"""Typed views of the `Club` spec (the VideoJob's: videojob_models.py; ClubBackup's and ClubRestore's:
backup_models.py), and what they share.

Handlers parse `spec` once, at their edge, with `ClubSpec.model_validate(body["spec"])` (or
`VideoJobSpec`); everything below works on these frozen models, never on raw dicts. Fields use the
CRD's camelCase names as aliases, and the snake_case names work too. Defaults equal the CRD's
(crds/*.yaml), so a spec that skipped the API server's defaulting parses to the same values; a unit
test keeps the two in step. Validation proper (patterns, ranges, CEL rules) is the API server's job:
the models only check types and enums. Derived values live here as properties.

No kopf, no Kubernetes client, no I/O.
"""

from __future__ import annotations

import enum
import re
from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field
from pydantic.alias_generators import to_camel

# --- values ----------------------------------------------------------------------------------

_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(h|m|s)")
_DURATION_UNITS = {"h": 3600, "m": 60, "s": 1}
_QUANTITY = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(m|Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
_QUANTITY_FACTORS: dict[str | None, Decimal] = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    **{s: Decimal(1024) ** (i + 1) for i, s in enumerate(["Ki", "Mi", "Gi", "Ti", "Pi", "Ei"])},
    **{s: Decimal(1000) ** (i + 1) for i, s in enumerate(["k", "M", "G", "T", "P", "E"])},
}


def parse_duration(text: str) -> timedelta:
    """A Go-style duration with h, m and s units ("720h", "1h30m", "1.5h"), as the CRD allows."""
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return timedelta(seconds=float(sum(Decimal(n) * _DURATION_UNITS[u] for n, u in parts)))


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes quantity ("50Gi", "500m", "2") as a number of base units."""
    match = _QUANTITY.match(text)
    if match is None:
        raise ValueError(f"not a quantity: {text!r}")
    suffix: str | None = match.group(2)
    return Decimal(match.group(1)) * _QUANTITY_FACTORS[suffix]


def _int_or_string(value: object) -> object:
    # The CRD declares quantities x-kubernetes-int-or-string, so `cpu: 1` arrives as an int.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


Quantity = Annotated[str, BeforeValidator(_int_or_string)]
"""A Kubernetes quantity, kept as the text the user wrote ("500m", "1Gi"); ints become text."""


class SpecModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        frozen=True,
        # A newer CRD may carry fields this operator does not know yet: ignore them.
        extra="ignore",
    )

    def to_dict(self) -> dict[str, object]:
        """The spec as the API server would store it: camelCase, unset optional fields left out."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# --- Club ------------------------------------------------------------------------------------


class ImagePullPolicy(enum.StrEnum):
    ALWAYS = "Always"
    IF_NOT_PRESENT = "IfNotPresent"
    NEVER = "Never"


class Isolation(enum.StrEnum):
    SHARED = "shared"
    DEDICATED = "dedicated"


class DeletionPolicy(enum.StrEnum):
    RETAIN = "Retain"
    DELETE = "Delete"


class ClubPhase(enum.StrEnum):
    PENDING = "Pending"
    PROVISIONING = "Provisioning"
    READY = "Ready"
    DEGRADED = "Degraded"
    FAILED = "Failed"
    DELETING = "Deleting"


class TolerationOperator(enum.StrEnum):
    EXISTS = "Exists"
    EQUAL = "Equal"


class TaintEffect(enum.StrEnum):
    NO_SCHEDULE = "NoSchedule"
    PREFER_NO_SCHEDULE = "PreferNoSchedule"
    NO_EXECUTE = "NoExecute"


class ResourceList(SpecModel):
    cpu: Quantity | None = None
    memory: Quantity | None = None

    def to_k8s(self) -> dict[str, str]:
        """The set entries, as a pod's `resources.requests` or `.limits` wants them."""
        return {k: v for k, v in (("cpu", self.cpu), ("memory", self.memory)) if v is not None}


class ResourceRequirements(SpecModel):
    requests: ResourceList | None = None
    limits: ResourceList | None = None

    def to_k8s(self, extra_limits: dict[str, str] | None = None) -> dict[str, dict[str, str]]:
        """A container's `resources`, with `extra_limits` (GPUs) added to the limits."""
        out: dict[str, dict[str, str]] = {}
        if self.requests is not None and self.requests.to_k8s():
            out["requests"] = self.requests.to_k8s()
        limits = {**(self.limits.to_k8s() if self.limits else {}), **(extra_limits or {})}
        if limits:
            out["limits"] = limits
        return out


def _resources(cpu: str, memory: str, memory_limit: str) -> ResourceRequirements:
    return ResourceRequirements(
        requests=ResourceList(cpu=cpu, memory=memory), limits=ResourceList(memory=memory_limit)
    )


class AutoscalingSpec(SpecModel):
    enabled: bool = False
    min_replicas: int = 2
    max_replicas: int = 5
    # to_camel would write "targetCpuUtilizationPercentage"; the CRD follows the HPA's spelling.
    target_cpu_utilization_percentage: int = Field(default=75, alias="targetCPUUtilizationPercentage")


class ApiSpec(SpecModel):
    replicas: int = 2
    resources: ResourceRequirements = Field(default_factory=lambda: _resources("100m", "256Mi", "512Mi"))
    autoscaling: AutoscalingSpec = Field(default_factory=AutoscalingSpec)


class SecretKeyRef(SpecModel):
    name: str
    key: str = "dsn"


class SecretRef(SpecModel):
    name: str


class DatabaseLimits(SpecModel):
    """What the club's login role may take of the server, set on the role itself."""

    connection_limit: int = 50
    statement_timeout: str = "60s"
    idle_in_transaction_session_timeout: str = "60s"
    temp_file_limit: str = "1Gi"

    @property
    def role_settings(self) -> tuple[tuple[str, str], ...]:
        """The role's settings in PostgreSQL's base units: milliseconds, and kilobytes of temp files."""

        def millis(text: str) -> str:
            return str(int(parse_duration(text).total_seconds() * 1000))

        kilobytes = -(-parse_quantity(self.temp_file_limit) // 1024)
        return (
            ("idle_in_transaction_session_timeout", millis(self.idle_in_transaction_session_timeout)),
            ("statement_timeout", millis(self.statement_timeout)),
            ("temp_file_limit", str(int(kilobytes))),
        )


class DatabaseSpec(SpecModel):
    isolation: Isolation = Isolation.SHARED
    shared_database_name: str | None = None
    server_secret_ref: SecretKeyRef | None = None
    limits: DatabaseLimits = Field(default_factory=DatabaseLimits)

    @property
    def dedicated(self) -> bool:
        return self.isolation is Isolation.DEDICATED


class StorageSpec(SpecModel):
    server_secret_ref: SecretRef | None = None
    bucket: str | None = None
    quota: str | None = None
    temporary_objects_expire_days: int = 7
    noncurrent_version_expire_days: int = 30

    @property
    def quota_bytes(self) -> int | None:
        """The quota in bytes, or None when the bucket has no quota."""
        return None if self.quota is None else int(parse_quantity(self.quota))


class Toleration(SpecModel):
    key: str | None = None
    operator: TolerationOperator = TolerationOperator.EQUAL
    value: str | None = None
    effect: TaintEffect | None = None
    toleration_seconds: int | None = None


class RuntimeSpec(SpecModel):
    image: str | None = None
    image_pull_policy: ImagePullPolicy = ImagePullPolicy.IF_NOT_PRESENT
    node_selector: dict[str, str] = Field(default_factory=dict)
    """Where every pod of the Club runs; replaces the operator's placement when set."""
    tolerations: tuple[Toleration, ...] = ()
    """Added to the operator's."""


class GpuSpec(SpecModel):
    enabled: bool = False
    resource_name: str = "nvidia.com/gpu"
    count: int = 1
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: tuple[Toleration, ...] = ()

    @property
    def limits(self) -> dict[str, str]:
        """Extended-resource limits for a worker container: {"nvidia.com/gpu": "1"}, or {} when off."""
        return {self.resource_name: str(self.count)} if self.enabled and self.count > 0 else {}


class WorkerPool(SpecModel):
    """Workers of the default queue; `VideoWorkerPool` has the same fields, other defaults."""

    min_replicas: int = 1
    max_replicas: int = 4
    target_queue_length: int = 10
    scratch_size: str = "1Gi"
    """The most each pod's /tmp (an emptyDir, its only writable directory) may hold."""
    resources: ResourceRequirements = Field(default_factory=lambda: _resources("100m", "256Mi", "1Gi"))
    gpu: GpuSpec = Field(default_factory=GpuSpec)

    @property
    def container_resources(self) -> dict[str, dict[str, str]]:
        """The worker container's `resources`, GPUs included when enabled."""
        return self.resources.to_k8s(extra_limits=self.gpu.limits)


class VideoWorkerPool(WorkerPool):
    min_replicas: int = 0
    max_replicas: int = 2
    target_queue_length: int = 2
    scratch_size: str = "10Gi"  # ffmpeg writes a video's renditions here before uploading them
    resources: ResourceRequirements = Field(default_factory=lambda: _resources("1", "1Gi", "4Gi"))


class WorkersSpec(SpecModel):
    default: WorkerPool = Field(default_factory=WorkerPool)
    video: VideoWorkerPool = Field(default_factory=VideoWorkerPool)


class BackupRetention(SpecModel):
    """Exactly one of `count` and `days` is set (a CEL rule in the CRD)."""

    count: int | None = None
    days: int | None = None


class BackupSpec(SpecModel):
    schedule: str = "0 3 * * *"
    retention: BackupRetention = Field(default_factory=lambda: BackupRetention(count=7))
    verify: bool = True
    suspend: bool = False


class RotationSpec(SpecModel):
    jwt_signing_key_interval: str = "720h"
    database_password_interval: str = "2160h"  # noqa: S105  (a duration, not a password)
    overlap: str = "24h"

    @property
    def jwt_signing_key_period(self) -> timedelta:
        return parse_duration(self.jwt_signing_key_interval)

    @property
    def database_password_period(self) -> timedelta:
        return parse_duration(self.database_password_interval)

    @property
    def overlap_period(self) -> timedelta:
        return parse_duration(self.overlap)


class SecretsSpec(SpecModel):
    rotation: RotationSpec = Field(default_factory=RotationSpec)


class AdoptSpec(SpecModel):
    """What an earlier Club of the same namespace and name kept (deletionPolicy Retain) that this
    one may take back; without it, a kept resource is a Conflict and stays untouched."""

    database: bool = False
    bucket: bool = False


class FromBackup(SpecModel):
    """A ClubBackup of another Club in the same namespace, to start a new Club from."""

    club_name: str
    backup_name: str


class BootstrapSpec(SpecModel):
    from_backup: FromBackup | None = None


class ClubSpec(SpecModel):
    """The spec of a Club, as `kubectl explain club.spec` describes it."""

    display_name: str
    runtime: RuntimeSpec = Field(default_factory=RuntimeSpec)
    api: ApiSpec = Field(default_factory=ApiSpec)
    database: DatabaseSpec = Field(default_factory=DatabaseSpec)
    storage: StorageSpec = Field(default_factory=StorageSpec)
    workers: WorkersSpec = Field(default_factory=WorkersSpec)
    backup: BackupSpec = Field(default_factory=BackupSpec)
    secrets: SecretsSpec = Field(default_factory=SecretsSpec)
    adopt: AdoptSpec = Field(default_factory=AdoptSpec)
    bootstrap: BootstrapSpec | None = None
    deletion_policy: DeletionPolicy = DeletionPolicy.RETAIN
    suspend: bool = False

    @property
    def needs_gpu(self) -> bool:
        """Whether any worker pool asks for GPUs."""
        return self.workers.default.gpu.enabled or self.workers.video.gpu.enabled

    @property
    def deletes_data(self) -> bool:
        """Whether deleting the Club drops its database and bucket."""
        return self.deletion_policy is DeletionPolicy.DELETE


# --- references ------------------------------------------------------------------------------


class ClubRef(SpecModel):
    """The Club a VideoJob, ClubBackup or ClubRestore is for (in the same namespace)."""

    name: str
