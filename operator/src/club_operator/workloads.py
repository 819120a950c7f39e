"""The Club's workloads: ConfigMap, API Deployment and Service, worker Deployments, autoscalers
(HPA, or KEDA ScaledObjects when KEDA is installed), PodDisruptionBudget and NetworkPolicies.

The builders (club_operator.builders) say what should exist; this step applies each object only where
a field differs, deletes what should not exist (only after reading that it does), and reports
WorkloadsReady from the Deployments' rollout status."""

from __future__ import annotations

import dataclasses
from typing import Any

from club_operator import credentials, kube, redis_acl, rollouts
from club_operator.builders import (
    api_deployment,
    api_service,
    autoscaling,
    config_map,
    network_policy,
    pdb,
    pod,
    worker_deployment,
)
from club_operator.builders.inputs import (
    POOLS,
    Destination,
    WorkloadInputs,
    config_digest,
    host_destination,
    placement,
    url_destination,
)
from club_operator.club import Context
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome
from club_operator.redis_target import RedisTarget, club_prefix, parse_redis_url, queue_name, with_user

KEDA_CRDS = ("scaledobjects.keda.sh", "triggerauthentications.keda.sh")
HPA = ("autoscaling/v2", "HorizontalPodAutoscaler")
SCALED_OBJECT = ("keda.sh/v1alpha1", "ScaledObject")
TRIGGER_AUTH = ("keda.sh/v1alpha1", "TriggerAuthentication")
PDB = ("policy/v1", "PodDisruptionBudget")
DEPLOYMENT = ("apps/v1", "Deployment")


def keda_installed() -> bool:
    return all(kube.crd_installed(name) for name in KEDA_CRDS)


def _inputs(ctx: Context, redis: RedisTarget, keda: bool) -> WorkloadInputs:
    """The inputs, short of what depends on the Secrets' values (the config hashes, the servers)."""
    names = ctx.names
    node_selector, tolerations = placement(
        ctx.spec, ctx.settings.pod_node_selector, ctx.settings.pod_tolerations
    )
    return WorkloadInputs(
        names=names,
        spec=ctx.spec,
        owner=ctx.club.owner,
        tenant_id=ctx.club.tenant_id or "",
        image=ctx.spec.runtime.image or ctx.settings.default_runtime_image,
        config_hash="",
        keda=keda,
        redis_secret=names.redis_secret,
        queue_default=queue_name(names.namespace, names.name, "default"),
        queue_video=queue_name(names.namespace, names.name, "video"),
        redis_database=redis.database,
        redis_prefix=club_prefix(names.namespace, names.name),
        keda_polling_interval=ctx.settings.keda_polling_interval_sec,
        keda_cooldown=ctx.settings.keda_cooldown_sec,
        node_selector=node_selector,
        tolerations=tolerations,
    )


def _servers(ctx: Context, redis: RedisTarget, secrets: dict[str, dict[str, str]]) -> tuple[Destination, ...]:
    """The PostgreSQL, Redis and S3 servers the pods reach, as the Club's Secrets and the Redis
    setting name them: the pods' only egress besides DNS. A Secret not written yet adds nothing."""
    database = secrets[ctx.names.database_secret]
    found = (
        host_destination(database.get("host"), database.get("port")),
        url_destination(redis.url),
        url_destination(secrets[ctx.names.storage_secret].get("endpoint") or ""),
    )
    return tuple(server for server in found if server is not None)


def _pod_secrets(ctx: Context, out: Outcome) -> dict[str, dict[str, str]]:
    """Every Secret the pods read, by name ({} for one that does not exist yet). The Secrets this
    reconcile already wrote or read are not read again."""
    names = ctx.names
    return {
        name: out.secrets[name] if name in out.secrets else kube.read_secret(names.namespace, name) or {}
        for name in (
            names.database_secret,
            names.storage_secret,
            names.jwt_secret,
            names.owner_secret,
            names.redis_secret,
        )
    }


def _config_hash(
    inputs: WorkloadInputs, config: dict[str, str], secrets: dict[str, dict[str, str]], *, api: bool
) -> str:
    """A digest of the ConfigMap's data and every Secret the API's (or the workers') pods read: a
    changed value rolls those pods, and only those."""
    read = pod.secrets_read(inputs, api=api)
    return config_digest(config, {k: v for k, v in secrets.items() if k in read})


def _apply(manifest: dict[str, Any] | None, absent: tuple[str, str, str], out: Outcome, ns: str) -> None:
    """Apply `manifest`, or when it is None make sure the object named by `absent` does not exist."""
    if manifest is not None:
        if kube.apply_object(manifest):
            out.changed("workload", f"applied {manifest['kind']} {manifest['metadata']['name']}")
        return
    api_version, kind, name = absent
    if kube.read_object(api_version, kind, ns, name) is not None and kube.delete_object(
        api_version, kind, ns, name
    ):
        out.changed("workload", f"deleted {kind} {name}")


def ensure_redis_user(ctx: Context, redis: RedisTarget, out: Outcome) -> bool:
    """The Club's own Redis user and the Secret its pods log in with; False when it cannot be had.
    The password is generated once; one found in a Secret of another user (the operator-wide URL an
    older operator wrote there) is never kept. The Secret is written before the user gets the
    password, so a crash between the two leaves a password the next reconcile applies."""
    names = ctx.names
    prefix = club_prefix(names.namespace, names.name)
    existing = kube.read_secret(names.namespace, names.redis_secret)
    password = (existing or {}).get(credentials.REDIS_PASSWORD, "")
    if not password or (existing or {}).get(credentials.REDIS_USERNAME) != prefix:
        password = credentials.generate_password()
    secret = credentials.build_redis_secret(
        names,
        ctx.club.owner,
        url=with_user(redis.url, prefix, password),
        address=redis.address,
        username=prefix,
        password=password,
    )
    data, written = kube.write_secret(secret, existing, keep=frozenset())
    out.secrets[names.redis_secret] = data
    if written:
        out.changed("secret", f"wrote Secret {names.redis_secret}")
    user = redis_acl.ClubUser(names.namespace, names.name, ctx.club.uid, password, redis.database)
    try:
        if redis_acl.ensure_user(redis.url, user):
            out.changed("redis", f"set up Redis user {prefix}")
    except redis_acl.RedisUnavailable as exc:
        out.failed(Type.WORKLOADS_READY, Reason.SERVER_UNAVAILABLE, str(exc))
        return False
    except redis_acl.RedisConflict as exc:
        # As a database or bucket Conflict: not the spec's fault, so not InvalidSpec; the resync
        # looks again (a person may delete the user or record its owner).
        out.condition(Type.WORKLOADS_READY, False, Reason.CONFLICT, str(exc))
        return False
    return True


def delete_redis_user(ctx: Context) -> str | None:
    """On deletion, whatever the deletionPolicy (Redis holds only job state): remove the Club's Redis
    user and keys when they are its own. Returns the problem met, if any."""
    names = ctx.names
    try:
        redis_acl.delete_user(
            ctx.settings.redis_url.get_secret_value(), names.namespace, names.name, ctx.club.uid
        )
    except redis_acl.RedisUnavailable as exc:
        return f"redis: {exc}"
    except ValueError as exc:  # a Redis URL redis-py cannot use: retried, then given up on
        return f"redis: operator setting redis_url: {exc}"
    return None


def ensure_workloads(ctx: Context, out: Outcome) -> None:
    names = ctx.names
    ns = names.namespace
    try:
        redis = parse_redis_url(ctx.settings.redis_url.get_secret_value())
    except ValueError as exc:
        out.failed(Type.WORKLOADS_READY, Reason.SERVER_SECRET_MISSING, f"operator setting redis_url: {exc}")
        return
    if not ensure_redis_user(ctx, redis, out):
        return
    keda = keda_installed()
    secrets = _pod_secrets(ctx, out)
    servers = _servers(ctx, redis, secrets)
    base = _inputs(ctx, redis, keda)
    # The ConfigMap holds none of the hashes or servers: built once, it is hashed and applied.
    config = config_map.build_config_map(base)
    inputs = dataclasses.replace(
        base,
        config_hash=_config_hash(base, config["data"], secrets, api=True),
        worker_config_hash=_config_hash(base, config["data"], secrets, api=False),
        servers=servers,
    )

    _apply(config, ("v1", "ConfigMap", names.config_map), out, ns)
    _apply(api_deployment.build_api_deployment(inputs), (*DEPLOYMENT, names.api), out, ns)
    _apply(api_service.build_api_service(inputs), ("v1", "Service", names.api_service), out, ns)
    for pool in POOLS:
        _apply(
            worker_deployment.build_worker_deployment(inputs, pool),
            (*DEPLOYMENT, names.worker(pool)),
            out,
            ns,
        )
    _apply(autoscaling.build_api_hpa(inputs), (*HPA, names.api), out, ns)
    for pool in POOLS:
        scaler = autoscaling.build_worker_scaler(inputs, pool)
        # The other kind of scaler must go first: KEDA refuses a ScaledObject whose target an HPA has.
        if keda:
            _apply(None, (*HPA, names.worker(pool)), out, ns)
            _apply(scaler, (*SCALED_OBJECT, names.worker(pool)), out, ns)
        else:
            _apply(scaler, (*HPA, names.worker(pool)), out, ns)
    if keda:
        _apply(autoscaling.build_trigger_auth(inputs), (*TRIGGER_AUTH, names.redis_trigger_auth), out, ns)
    _apply(pdb.build_api_pdb(inputs), (*PDB, names.api), out, ns)
    _apply(
        network_policy.build_api_network_policy(inputs),
        ("networking.k8s.io/v1", "NetworkPolicy", names.api),
        out,
        ns,
    )
    _apply(
        network_policy.build_worker_network_policy(inputs),
        ("networking.k8s.io/v1", "NetworkPolicy", names.workers_network_policy),
        out,
        ns,
    )
    out.fields["apiEndpoint"] = api_service.api_endpoint(names)
    report_rollout(ctx, out)


def report_rollout(ctx: Context, out: Outcome) -> None:
    """Read the Deployments and report WorkloadsReady from their rollout; while one is rolling out,
    name each Deployment's generation awaited (rollouts.py settles it when its Deployments change)."""
    names = ctx.names
    if ctx.spec.suspend:
        out.condition(
            Type.WORKLOADS_READY, False, Reason.SUSPENDED, "suspended: every workload is scaled to zero"
        )
        return
    waiting = []
    generations = {}
    for name in (names.api, *(names.worker(p) for p in POOLS)):
        live = kube.read_object(*DEPLOYMENT, names.namespace, name)
        generations[name] = int((live or {}).get("metadata", {}).get("generation") or 0)
        problem = rollouts.waiting_for(live)
        if problem:
            waiting.append(f"{name}: {problem}")
    if waiting:
        out.condition(Type.WORKLOADS_READY, False, Reason.ROLLING_OUT, "; ".join(waiting))
        out.rolling_out = generations
        return
    out.condition(Type.WORKLOADS_READY, True, Reason.AVAILABLE, rollouts.AVAILABLE)
