"""One reconcile of a Club: a flat list of `ensure_*` steps, each reading first and writing only what
is missing or drifted, each reporting a condition. A step whose dependency is down reports its
condition False with the reason and lets the others run; the handler then retries with backoff.

Nothing here touches the Club object itself: the handler turns the Outcome into a status patch and
Events (see status.py)."""

from __future__ import annotations

import dataclasses
import datetime
import time
import uuid
from typing import Any

import pydantic

from club_operator import (
    backup_storage,
    club_backups,
    club_bootstrap,
    club_restores,
    club_servers,
    clubbackups,
    credentials,
    cron,
    database,
    kube,
    metrics,
    naming,
    owner_rotation,
    ownership,
    pg_owners,
    redis_rotation,
    rollouts,
    rotation,
    status_writer,
    storage,
    workloads,
)
from club_operator.builders import backup_job
from club_operator.club import ClubObject, Context
from club_operator.conditions import Reason, Type
from club_operator.config import OperatorSettings
from club_operator.models import ClubSpec
from club_operator.outcome import Outcome
from club_runtime.db import tenancy


def parse(club: ClubObject, settings: OperatorSettings) -> Context:
    """Parse the spec once; a spec the schema let through but the model refuses is a permanent error."""
    spec = ClubSpec.model_validate(club.spec)
    names = naming.build_names(
        club.namespace, club.name, spec, settings.shared_database_name, provisioned_role=club.provisioned_role
    )
    return Context(club, spec, names, settings)


def reconcile(club: ClubObject, settings: OperatorSettings) -> Outcome:
    out = Outcome()
    try:
        ctx = parse(club, settings)
    except pydantic.ValidationError as exc:
        out.permanent = f"the spec cannot be used: {exc.errors()[0]['msg']} at {_loc(exc)}"
        return out
    out.fields.update(
        tenantId=club.tenant_id or club.uid,
        databaseName=ctx.names.database,
        databaseRole=ctx.names.role,
        bucket=ctx.names.bucket,
        runtimeImage=ctx.spec.runtime.image or settings.default_runtime_image,
    )
    try:
        if club.restore_hold and club_restores.holds(club.namespace, club.restore_hold):
            # A ClubRestore replaces the club's rows: suspended as by spec.suspend until it is done.
            ctx = dataclasses.replace(ctx, spec=ctx.spec.model_copy(update={"suspend": True}))
        if ctx.spec.suspend:
            # Suspended: scale every workload to zero and touch nothing else until resumed.
            workloads.ensure_workloads(ctx, out)
            ensure_backup_schedule(ctx, out)
            return out
        ensure_app_secrets(ctx, out)
        if out.permanent:
            return out  # the API cannot start with an unusable key set: deploy nothing on it
        tenant = ensure_database(ctx, out)
        ensure_isolation_probe(ctx, out, tenant)
        ensure_storage(ctx, out)
        # The runtime's CLUB_ID is the tenant id the database step read from the role's record.
        ctx = dataclasses.replace(ctx, club=dataclasses.replace(ctx.club, tenant_id=out.fields["tenantId"]))
        ensure_backup_storage(ctx, out)
        if not club_bootstrap.ensure_bootstrap(ctx, out):
            return out  # the workloads first start on the backup's rows
        workloads.ensure_workloads(ctx, out)
        ensure_jwt_rotation(ctx, out)
        redis_rotation.ensure_redis_rotation(ctx, out)
        owner_rotation.ensure_owner_rotation(ctx, out)
        ensure_backup_schedule(ctx, out)
        club_backups.ensure_backups(ctx, out)  # verify, retention, the backups' status and gauges
    except kube.InvalidSecret as exc:
        # A value a person put in a Secret (hand-edited, or a server's Secret) that is not text:
        # InvalidSpec naming the Secret and key, not a retry loop that never gets further.
        out.permanent = str(exc)
    except kube.Refused as exc:
        # The schema let the spec through but the API server refuses an object built from it:
        # the Club still gets a status that says which object and why.
        out.condition(Type.WORKLOADS_READY, False, Reason.INVALID_SPEC, str(exc))
        out.permanent = str(exc)
    return out


def _loc(exc: pydantic.ValidationError) -> str:
    return "spec." + ".".join(str(p) for p in exc.errors()[0]["loc"])


def _secret(
    manifest: dict[str, Any], out: Outcome, keep: frozenset[str], current: dict[str, str] | None
) -> dict[str, str]:
    """Write the Secret where it differs from `current` (as just read); remember what it holds."""
    name = manifest["metadata"]["name"]
    data, written = kube.write_secret(manifest, current, keep=keep)
    if written:
        out.changed("secret", f"wrote Secret {name}")
    out.secrets[name] = data
    return data


def ensure_app_secrets(ctx: Context, out: Outcome) -> None:
    """The JWT key set and the bootstrap owner: generated once, never replaced here (the key set is
    rotated by ensure_jwt_rotation)."""
    names, owner = ctx.names, ctx.club.owner
    existing = kube.read_secret(names.namespace, names.jwt_secret)
    current = (existing or {}).get(credentials.JWT_KEYS)  # kept once written, even when emptied
    keys = credentials.generate_jwt_keys() if current is None else current
    try:
        out.fields["jwtKeyId"] = credentials.active_key_id(keys)
    except credentials.InvalidKeySet as exc:
        # Never regenerated here: a new key set would sign every user out without a word.
        message = (
            f"Secret {names.namespace}/{names.jwt_secret} key {credentials.JWT_KEYS!r} is not a usable "
            f"JWT key set: {exc}. Fix the value, or delete the Secret to have a new key set "
            "generated (every user is signed out)"
        )
        out.condition(Type.SECRETS_READY, False, Reason.INVALID_SPEC, message)
        out.permanent = message
        return
    _secret(
        credentials.build_jwt_secret(names, owner, keys_json=keys),
        out,
        frozenset({credentials.JWT_KEYS}),
        existing,
    )
    existing = kube.read_secret(names.namespace, names.owner_secret)
    password = (existing or {}).get(credentials.OWNER_PASSWORD) or credentials.generate_password()
    _secret(
        credentials.build_owner_secret(names, owner, password=password),
        out,
        frozenset({credentials.OWNER_PASSWORD}),
        existing,
    )
    out.condition(Type.SECRETS_READY, True, Reason.GENERATED, "JWT key set and owner account are in place")


def _rotation_policy(ctx: Context) -> rotation.Policy:
    spec = ctx.spec.secrets.rotation
    return rotation.Policy(
        interval=spec.jwt_signing_key_period,
        overlap=spec.overlap_period,
        lifetime=datetime.timedelta(seconds=ctx.settings.jwt_token_lifetime_sec),
    )


def ensure_jwt_rotation(ctx: Context, out: Outcome) -> None:
    """After the workloads: one step of the JWT signing key's rotation (rotation.py), on schedule
    (spec.secrets.rotation.jwtSigningKeyInterval) or asked for by the footballclub.io/rotate
    annotation (each value once: status.lastRotateRequest). A new key is added to verify only, made
    the signer once every API pod has it, and the previous key removed once every API pod signs with
    the new one and the overlap and the runtime's token lifetime have passed. Each write rolls the
    API on the next reconcile; the step after waits for that rollout (`_api_propagated`).

    The API keeps serving meanwhile: the runtime reads JWT_KEYS once at start, so a new key set rolls
    the API Deployment (its pod template's config hash covers the key set; the workers' does not)
    rather than being reloaded: each new pod Ready before an old one goes (rolling update maxSurge 1,
    maxUnavailable 0; the PodDisruptionBudget keeps evictions to one pod meanwhile), and every pod,
    old or new, verifies every token that any pod signs until the previous key is removed.
    Reports status.rotation.jwtSigningKey, lastRotationTime, SecretsRotated, an Event per step and
    club_secret_last_rotation_timestamp_seconds: kids and times only, never a key."""
    club, names = ctx.club, ctx.names
    keys = (out.secrets.get(names.jwt_secret) or {}).get(credentials.JWT_KEYS)
    if keys is None:
        return  # ensure_app_secrets found the key set unusable
    _, known = status_writer.current_status(club.uid, None)  # newer than the body's, when written here
    copies = (
        (club.rotation or {}).get(rotation.JWT_SIGNING_KEY),
        (known.get("rotation") or {}).get(rotation.JWT_SIGNING_KEY),
    )
    record = rotation.newest(*(rotation.from_status(copy) for copy in copies))
    handled = known.get("lastRotateRequest") or club.rotate_request_handled
    request = rotation.pending_request(club.rotate_request, record, handled)
    kid, secret = credentials.generate_jwt_key()
    policy = _rotation_policy(ctx)
    planned = rotation.advance(
        record,
        active_kid=credentials.active_key_id(keys),
        kids=credentials.key_ids(keys),
        propagated=_api_propagated(ctx, out),
        now=datetime.datetime.now(datetime.UTC),
        policy=policy,
        request=request,
        new_kid=kid,
    )
    written = keys
    if planned.action is rotation.Action.ISSUE:
        written = credentials.add_jwt_key(keys, kid, secret)
    elif planned.action is rotation.Action.ACTIVATE:
        written = credentials.activate_jwt_key(keys, planned.record.kid)
    elif planned.action is rotation.Action.REVOKE:
        written = credentials.keep_active_key(keys)
    if written != keys:
        # Replaced on purpose (keep nothing): the one place the key set changes once written.
        existing = kube.read_secret(names.namespace, names.jwt_secret)
        _secret(
            credentials.build_jwt_secret(names, club.owner, keys_json=written), out, frozenset(), existing
        )
        out.fields["jwtKeyId"] = credentials.active_key_id(written)
    if planned.request_handled:
        out.fields["lastRotateRequest"] = club.rotate_request
    for event in planned.events:
        out.changed("rotation", event)
    record = planned.record
    status = record.to_status()
    out.fields["rotation"] = {rotation.JWT_SIGNING_KEY: rotation.status_patch(record, *copies)}
    out.fields["lastRotationTime"] = status["issuedTime"]
    metrics.SECRET_LAST_ROTATION.labels(names.namespace, names.name, rotation.JWT_SIGNING_KEY).set(
        record.issued.timestamp()
    )
    out.condition(Type.SECRETS_ROTATED, True, *_rotation_condition(record, policy))


def _rotation_condition(record: rotation.Record, policy: rotation.Policy) -> tuple[Reason, str]:
    status = record.to_status()
    previous = record.previous_kid
    if record.phase == rotation.Phase.ISSUED:
        message = (
            f"JWT signing key {record.kid} issued at {status['issuedTime']}, rolling out to the API pods"
        )
        if previous:
            message += f"; key {previous} keeps verifying"
        reason = Reason.ROTATION_ISSUED
    elif record.phase == rotation.Phase.PROPAGATED:
        message = f"every API pod signs with JWT signing key {record.kid} since {status['propagatedTime']}"
        revoke_at = record.revoke_at(policy)
        if previous and revoke_at is not None:
            message += f"; key {previous} is removed after {revoke_at:%Y-%m-%dT%H:%M:%SZ}"
        reason = Reason.ROTATION_PROPAGATED
    else:
        message = f"JWT signing key {record.kid} in use; key {previous} revoked at {status['revokedTime']}"
        reason = Reason.ROTATION_REVOKED
    return reason, f"{message}; next rotation at {status['nextRotationTime']}"


def _api_propagated(ctx: Context, out: Outcome) -> bool:
    """Every API pod runs the pod template this reconcile applied (so the key set now in the Secret)
    and is Ready: the Deployment observed its generation, every pod is updated, none of an older
    template is left, all are available. Only when the workloads step applied every object."""
    applied = [c for c in out.conditions if c.type == Type.WORKLOADS_READY]
    if not applied or applied[-1].reason not in (Reason.AVAILABLE, Reason.ROLLING_OUT):
        return False
    live = kube.read_object("apps/v1", "Deployment", ctx.names.namespace, ctx.names.api)
    if live is None or rollouts.waiting_for(live) is not None:
        return False
    status = live.get("status") or {}
    return int(status.get("replicas") or 0) == int(status.get("updatedReplicas") or 0)


# What the isolation probe needs: the server, the tenant, and what the tenant check found.
Provisioned = tuple[database.Server, database.Tenant, database.TenantCheck]


def ensure_database(ctx: Context, out: Outcome) -> Provisioned | None:
    names = ctx.names
    try:
        server = club_servers.database_server(ctx.spec, names.namespace, ctx.settings)
        host, port = server.host, server.port
    except club_servers.ServerNotConfigured as exc:
        out.failed(Type.DATABASE_READY, Reason.SERVER_SECRET_MISSING, str(exc))
        return None
    except database.InvalidServer as exc:
        out.condition(Type.DATABASE_READY, False, Reason.INVALID_SPEC, str(exc))
        out.permanent = f"database server: {exc}"
        return None
    existing = kube.read_secret(names.namespace, names.database_secret)
    password = (existing or {}).get(credentials.DB_PASSWORD) or credentials.generate_password()
    limits = ctx.spec.database.limits
    tenant = database.Tenant(
        club_id=ctx.club.club_id,
        slug=names.slug,
        database=names.database,
        role=names.role,
        password=password,
        dedicated=ctx.spec.database.dedicated,
        limits=tenancy.RoleLimits(limits.connection_limit, limits.role_settings),
    )
    dsn = server.club_dsn(names.database, names.role, password)
    try:
        try:
            role, dedicated = _claim_tenant(ctx, server, tenant)
        except ownership.Conflict as exc:
            out.condition(Type.DATABASE_READY, False, Reason.CONFLICT, str(exc))
            return None
        # The rows carry the tenant id the role records: the Club's uid, or an adopted Club's.
        tenant = dataclasses.replace(tenant, club_id=uuid.UUID(role.owner.tenant))
        out.fields["tenantId"] = str(tenant.club_id)
        if database.ensure_database(server, names.database):
            out.changed("database", f"created database {names.database}")
        if dedicated is not None and dedicated.write:
            pg_owners.record_owner(server, "database", names.database, dedicated.owner)
            out.changed("database", f"recorded the owner of database {names.database}")
        if database.ensure_schema(server, names.database):
            out.changed("schema", f"migrated database {names.database} to the runtime's schema")
        if database.ensure_canary(server, names.database):
            out.changed("canary", f"wrote the isolation canary in {names.database}")
        # The Secret is written before the role gets its password, so a crash between the two
        # leaves a password that the next reconcile applies, never a role nobody can log in as.
        _secret(
            credentials.build_database_secret(
                names, ctx.club.owner, host=host, port=port, password=password, dsn=dsn
            ),
            out,
            frozenset({credentials.DB_PASSWORD}),
            existing,
        )
        check = database.check_tenant(server, tenant)
        if database.ensure_tenant(server, tenant, check.in_place):
            out.changed("role", f"provisioned role {names.role} in {names.database}")
            check = database.TenantCheck(in_place=True, isolated=None)  # probe the repaired role
        if role.write:
            pg_owners.record_owner(server, "role", names.role, role.owner)
            out.changed("role", f"recorded the owner of role {names.role}")
    except database.DatabaseUnavailable as exc:
        out.failed(Type.DATABASE_READY, Reason.SERVER_UNAVAILABLE, str(exc))
        return None
    except database.DatabaseFailed as exc:
        out.failed(Type.DATABASE_READY, Reason.MIGRATION_FAILED, str(exc))
        return None
    out.condition(
        Type.DATABASE_READY,
        True,
        Reason.PROVISIONED,
        f"role {names.role} in database {names.database} ({ctx.spec.database.isolation})",
    )
    return server, tenant, check


def _claim_tenant(
    ctx: Context, server: database.Server, tenant: database.Tenant
) -> tuple[ownership.Claim, ownership.Claim | None]:
    """May the Club use its role and database? The claims on its role and, when dedicated, on its
    database (a shared pool has no single owner). Raises ownership.Conflict."""
    club = ctx.club
    me = ownership.Owner(club.namespace, club.name, club.uid, club.uid)
    adopt = ctx.spec.adopt.database
    role = ownership.judge(
        "role",
        tenant.role,
        pg_owners.find_role(server, tenant, club.uid),
        me,
        adopt=adopt,
        adopt_field="database",
    )
    if not tenant.dedicated:
        pg_owners.check_pool(server, tenant.database)
        return role, None
    found = pg_owners.find_database(server, tenant.database, club.uid)
    dedicated = ownership.judge("database", tenant.database, found, me, adopt=adopt, adopt_field="database")
    return role, dedicated


def ensure_isolation_probe(ctx: Context, out: Outcome, tenant: Provisioned | None) -> None:
    """The probe's verdict: from the tenant check's login when it ran there, else a login of its own."""
    labels = (ctx.names.namespace, ctx.names.name)
    if tenant is None:
        out.condition(
            Type.TENANT_ISOLATION_VERIFIED,
            False,
            Reason.PROBE_SKIPPED,
            "the probe needs the database to be ready",
        )
        metrics.ISOLATION_VERIFIED.labels(*labels).set(0)
        return
    server, found, check = tenant
    try:
        passed = check.isolated if check.isolated is not None else database.probe_isolation(server, found)
    except (database.DatabaseUnavailable, database.DatabaseFailed) as exc:
        metrics.PROBES.labels("error").inc()
        metrics.ISOLATION_VERIFIED.labels(*labels).set(0)
        out.failed(Type.TENANT_ISOLATION_VERIFIED, Reason.SERVER_UNAVAILABLE, str(exc))
        return
    metrics.ISOLATION_PROBE_TIME.labels(*labels).set(time.time())
    metrics.ISOLATION_VERIFIED.labels(*labels).set(1 if passed else 0)
    metrics.PROBES.labels("passed" if passed else "failed").inc()
    if passed:
        out.condition(
            Type.TENANT_ISOLATION_VERIFIED,
            True,
            Reason.PROBE_PASSED,
            "as the club's role, another club's canary row is invisible and foreign writes fail",
        )
    else:
        out.failed(
            Type.TENANT_ISOLATION_VERIFIED,
            Reason.PROBE_FAILED,
            "the club's role could see or write another club's rows",
        )


def ensure_storage(ctx: Context, out: Outcome) -> None:
    names = ctx.names
    try:
        server = club_servers.storage_server(ctx.spec, names.namespace, ctx.settings)
    except club_servers.ServerNotConfigured as exc:
        out.failed(Type.STORAGE_READY, Reason.SERVER_SECRET_MISSING, str(exc))
        return
    if names.bucket == ctx.settings.backup_bucket:
        # Its runtime credentials would reach every club's backups.
        message = (
            f"bucket {names.bucket} is the operator's backup bucket: spec.storage.bucket must name another"
        )
        out.condition(Type.STORAGE_READY, False, Reason.CONFLICT, message)
        return
    existing = kube.read_secret(names.namespace, names.storage_secret)
    secret_key = (existing or {}).get(credentials.STORAGE_SECRET_KEY) or credentials.generate_password()
    _secret(
        credentials.build_storage_secret(
            names, ctx.club.owner, endpoint=server.endpoint, region=server.region, secret_key=secret_key
        ),
        out,
        frozenset({credentials.STORAGE_SECRET_KEY}),
        existing,
    )
    plan = storage.StoragePlan(
        bucket=names.bucket,
        user=names.s3_user,
        secret_key=secret_key,
        policy_name=names.s3_policy,
        quota_bytes=ctx.spec.storage.quota_bytes,
        temporary_prefix="tmp/",
        temporary_expire_days=ctx.spec.storage.temporary_objects_expire_days,
        noncurrent_expire_days=ctx.spec.storage.noncurrent_version_expire_days,
        owner=ownership.Owner(names.namespace, names.name, ctx.club.uid, ctx.club.uid),
        adopt=ctx.spec.adopt.bucket,
        bucket_from_spec=ctx.spec.storage.bucket is not None,
    )
    try:
        result = storage.ensure_storage(server, plan)
    except ownership.Conflict as exc:
        out.condition(Type.STORAGE_READY, False, Reason.CONFLICT, str(exc))
        return
    except storage.StorageUnavailable as exc:
        out.failed(Type.STORAGE_READY, Reason.SERVER_UNAVAILABLE, str(exc))
        return
    except storage.StorageConflict as exc:
        out.condition(Type.STORAGE_READY, False, Reason.INVALID_SPEC, str(exc))
        out.permanent = f"storage: {exc}"
        return
    for what in result.changed:
        out.changed("storage", f"wrote S3 {what} for {names.bucket}")
    out.condition(
        Type.STORAGE_READY,
        True,
        Reason.PROVISIONED,
        f"bucket {names.bucket} with its own credentials and policy",
    )


def ensure_backup_storage(ctx: Context, out: Outcome) -> None:
    """The backup bucket on the club's S3 server and the club's backup writer (backup_storage.py),
    with its Secret for the backup Jobs. Only once the database step has confirmed the tenant id:
    it names the club's folder, and a guess would have to be taken back; and on a server the club's
    own storage step reached. Reported in StorageReady."""
    names = ctx.names
    found = {c.type: c for c in out.conditions}
    database_ready, storage_ready = found.get(Type.DATABASE_READY), found.get(Type.STORAGE_READY)
    if not (database_ready and database_ready.status and storage_ready and storage_ready.status):
        return
    # The server ensure_storage reached.
    server = club_servers.storage_server(ctx.spec, names.namespace, ctx.settings)
    existing = kube.read_secret(names.namespace, names.backup_secret)
    secret_key = (existing or {}).get(credentials.BACKUP_SECRET_KEY) or credentials.generate_password()
    plan = backup_storage.BackupPlan(
        bucket=ctx.settings.backup_bucket,
        folder=backup_storage.club_folder(ctx.club.tenant_id or ctx.club.uid),
        user=names.backup_s3_user,
        secret_key=secret_key,
        policy_name=names.backup_s3_policy,
    )
    # The Secret before the user: a crash between the two leaves a secret the next reconcile applies.
    _secret(
        credentials.build_backup_secret(
            names,
            ctx.club.owner,
            endpoint=server.endpoint,
            region=server.region,
            bucket=plan.bucket,
            prefix=backup_storage.PREFIX,
            secret_key=secret_key,
        ),
        out,
        frozenset({credentials.BACKUP_SECRET_KEY}),
        existing,
    )
    try:
        result = backup_storage.ensure_backup_storage(server, plan)
    except ownership.Conflict as exc:
        out.condition(Type.STORAGE_READY, False, Reason.CONFLICT, str(exc))
        return
    except storage.StorageUnavailable as exc:
        out.failed(Type.STORAGE_READY, Reason.SERVER_UNAVAILABLE, str(exc))
        return
    except storage.StorageConflict as exc:
        out.failed(Type.STORAGE_READY, Reason.CONFLICT, str(exc))
        return
    for what in result.changed:
        out.changed("storage", f"wrote S3 backup {what} for {names.backup_s3_user}")
    where = f"s3://{plan.bucket}/{plan.folder}"
    message = f"{storage_ready.message}; backups in {where}, written by a user of its own that cannot delete"
    out.condition(Type.STORAGE_READY, True, storage_ready.reason, message)


def ensure_backup_schedule(ctx: Context, out: Outcome) -> None:
    """The Club's backup CronJob (builders/backup_job.py: suspended while the Club or its backups
    are), and the ClubBackup its footballclub.io/backup-now annotation asks for (clubbackups.py)."""
    # A schedule the CronJob's own validation would refuse, or one that never runs, never reaches it.
    problem = cron.schedule_problem(ctx.spec.backup.schedule)
    if problem is not None:
        message = f"spec.backup.schedule {ctx.spec.backup.schedule!r} cannot be used: {problem}"
        out.condition(Type.WORKLOADS_READY, False, Reason.INVALID_SPEC, message)
        out.permanent = message
        return
    club = ctx.club
    tenant = str(out.fields.get("tenantId") or club.tenant_id or club.uid)
    inputs = clubbackups.backup_inputs(ctx.names, ctx.spec, club.owner, tenant, ctx.settings)
    # The Secrets the Jobs read exist (once written they stay, whatever a server's outage).
    names = ctx.names
    ready = all(
        name in out.secrets or kube.read_secret(names.namespace, name) is not None
        for name in (names.database_secret, names.backup_secret)
    )
    cronjob = backup_job.build_cronjob(inputs, secrets_ready=ready)
    if kube.apply_object(cronjob):
        out.changed("backup", f"applied CronJob {cronjob['metadata']['name']}")
    handled = clubbackups.ensure_requested(club)
    if handled is not None:
        out.fields["lastBackupRequest"] = handled
        out.changed("backup", f"asked for a backup ({club.backup_request})")
