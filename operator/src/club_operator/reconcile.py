"""One reconcile of a Club: a flat list of `ensure_*` steps, each reading first and writing only what
is missing or drifted, each reporting a condition. A step whose dependency is down reports its
condition False with the reason and lets the others run; the handler then retries with backoff.

Nothing here touches the Club object itself: the handler turns the Outcome into a status patch and
Events (see status.py)."""

from __future__ import annotations

import dataclasses
import time
import uuid

import pydantic

from club_operator import (
    backup_steps,
    club_backups,
    club_bootstrap,
    club_restores,
    club_servers,
    credentials,
    database,
    db_logins,
    db_rotation,
    jwt_rotation,
    kube,
    metrics,
    naming,
    owner_rotation,
    ownership,
    pg_owners,
    redis_rotation,
    revoke,
    s3_keys,
    s3_rotation,
    secret_writes,
    storage,
    workloads,
)
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
            backup_steps.ensure_backup_schedule(ctx, out)
            return out
        ensure_app_secrets(ctx, out)
        if out.permanent:
            return out  # the API cannot start with an unusable key set: deploy nothing on it
        tenant = ensure_database(ctx, out)
        ensure_isolation_probe(ctx, out, tenant)
        ensure_storage(ctx, out)
        # The runtime's CLUB_ID is the tenant id the database step read from the role's record.
        ctx = dataclasses.replace(ctx, club=dataclasses.replace(ctx.club, tenant_id=out.fields["tenantId"]))
        backup_steps.ensure_backup_storage(ctx, out)
        revoke.ensure_revocation(ctx, out)  # before the workloads: they roll onto the new Secrets
        if not club_bootstrap.ensure_bootstrap(ctx, out):
            return out  # the workloads first start on the backup's rows
        workloads.ensure_workloads(ctx, out)
        jwt_rotation.ensure_jwt_rotation(ctx, out)
        redis_rotation.ensure_redis_rotation(ctx, out)
        db_rotation.ensure_db_rotation(ctx, out)
        s3_rotation.ensure_s3_rotation(ctx, out)
        owner_rotation.ensure_owner_rotation(ctx, out)
        revoke.ensure_revocation_done(ctx, out)
        backup_steps.ensure_backup_schedule(ctx, out)
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


def ensure_app_secrets(ctx: Context, out: Outcome) -> None:
    """The JWT key set and the bootstrap owner: generated once, never replaced here (the key set is
    rotated by ensure_jwt_rotation)."""
    names, owner = ctx.names, ctx.club.owner
    existing = kube.read_secret(names.namespace, names.jwt_secret, own=True)
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
    secret_writes.write(
        credentials.build_jwt_secret(names, owner, keys_json=keys),
        out,
        frozenset({credentials.JWT_KEYS}),
        existing,
    )
    existing = kube.read_secret(names.namespace, names.owner_secret, own=True)
    password = (existing or {}).get(credentials.OWNER_PASSWORD) or credentials.generate_password()
    secret_writes.write(
        credentials.build_owner_secret(names, owner, password=password),
        out,
        frozenset({credentials.OWNER_PASSWORD}),
        existing,
    )
    out.condition(Type.SECRETS_READY, True, Reason.GENERATED, "JWT key set and owner account are in place")


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
    existing = kube.read_secret(names.namespace, names.database_secret, own=True)
    password = (existing or {}).get(credentials.DB_PASSWORD) or credentials.generate_password()
    login = db_logins.current_login(names.role, (existing or {}).get("username"))  # rotated: not the role
    limits = ctx.spec.database.limits
    tenant = database.Tenant(
        club_id=ctx.club.club_id,
        slug=names.slug,
        database=names.database,
        role=names.role,
        password=password,
        dedicated=ctx.spec.database.dedicated,
        limits=tenancy.RoleLimits(limits.connection_limit, limits.role_settings),
        login=login,
    )
    dsn = server.club_dsn(names.database, login, password)
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
        secret_writes.write(
            credentials.build_database_secret(
                names, ctx.club.owner, host=host, port=port, password=password, dsn=dsn, username=login
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
    existing = kube.read_secret(names.namespace, names.storage_secret, own=True)
    # The one of the Club's two S3 users the Secret names: s3_rotation.py alternates them.
    access_key, secret_key = s3_keys.in_use(names.s3_user, existing or {})
    secret_key = secret_key or credentials.generate_password()
    secret_writes.write(
        credentials.build_storage_secret(
            names,
            ctx.club.owner,
            endpoint=server.endpoint,
            region=server.region,
            secret_key=secret_key,
            access_key=access_key,
        ),
        out,
        frozenset({credentials.STORAGE_SECRET_KEY}),
        existing,
    )
    plan = storage.StoragePlan(
        bucket=names.bucket,
        user=access_key,
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
