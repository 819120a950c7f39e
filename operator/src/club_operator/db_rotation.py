"""The database password's rotation: one step per reconcile of rotation.py's phases, after the
workloads. The Club's sessions log in through two login roles that alternate (db_logins.py): a
PostgreSQL role has one password, so old and new work at once only as two logins.

    Issued      the login not in use gets a new password, and the database Secret (username,
                password, dsn) names it. The Secret is written first: a crash between the two
                leaves a Secret whose login refuses it, which the next reconcile's database step
                repairs (check_tenant fails, ensure_tenant sets the Secret's password), and this
                step takes it up (`adopted`) rather than issuing a second one.
    Propagated  every pod that reads the Secret runs with it: the API and both worker pools run the
                template carrying it and are Ready (their config hashes cover the database Secret),
                no backup Job pod started before the issue is still running (a Job's pods read
                DATABASE_URL when they start), and pg_stat_activity holds no session of a previous
                login that may still log in.
    Revoked     after `overlap`, the previous login is made NOLOGIN with its password removed, and
                its sessions are ended (tenancy.retire_login): the server refuses it.

A Club provisioned before rotation logs in as its role itself; its first rotation moves it to
`<role>__a` and retires the role's own login the same way, without downtime. The login roles record
their Club like the role does (pg_owners: the role's comment); a login of that name that another
Club, or nobody the operator knows, owns is never given a password (condition reason Conflict).

Scheduled on spec.secrets.rotation.databasePasswordInterval, on request by footballclub.io/rotate;
a suspended Club runs no reconcile step but the workloads', so nothing rotates until it resumes.
The record's ids are `<login>:<password id>`, never the password."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from dataclasses import dataclass
from typing import Any

import psycopg

from club_operator import (
    backup_record,
    club_servers,
    credentials,
    database,
    db_logins,
    kube,
    ownership,
    pg_connections,
    pg_owners,
    redis_rotation,
    rotation,
    rotation_condition,
    rotation_steps,
)
from club_operator.builders import backup_job
from club_operator.club import Context
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome
from club_runtime.db import tenancy


@dataclass(frozen=True)
class Login:
    """One of the Club's logins, as the server holds it."""

    name: str
    exists: bool = False
    can_login: bool = False
    owner: ownership.Owner | None = None
    member: bool = False  # a member of the Club's role (the operator made it a login of that role)


PHRASES = rotation_condition.Phrases(
    issued="database login {kid} issued at {issued}, rolling out to the pods",
    propagated="every pod connects to the database as {kid} since {propagated}",
    revoke_after="login {previous} is retired after {at}",
    revoked="database login {kid} in use; login {previous} revoked at {revoked}",
    name="database password",
)


@dataclass(frozen=True)
class _Seen:
    """What one step reads before it decides."""

    kids: frozenset[str]  # the credentials that still log in
    pods: bool  # every pod that reads the Secret runs with what it holds
    propagated: bool  # and no session of a previous login is left
    can_login: dict[str, bool]


def ensure_db_rotation(ctx: Context, out: Outcome) -> None:
    """One step of the Club's database password rotation (module docstring). Reports
    status.rotation.databasePassword, its Events, the SecretsRotated condition (merged with the other
    credentials') and club_secret_last_rotation_timestamp_seconds{credential="databasePassword"}."""
    club, names = ctx.club, ctx.names
    ready = [c for c in out.conditions if c.type == Type.DATABASE_READY]
    data = out.secrets.get(names.database_secret) or {}
    password = data.get(credentials.DB_PASSWORD)
    if not ready or not ready[-1].status or not password:
        return  # the database step could not provision the tenant: nothing to rotate on
    try:
        server = club_servers.database_server(ctx.spec, names.namespace, ctx.settings)
    except (club_servers.ServerNotConfigured, database.InvalidServer):
        return  # the database step reported it
    login = db_logins.current_login(names.role, data.get("username"))
    at = rotation_steps.standing(ctx, rotation.DATABASE_PASSWORD)
    record, request = at.record, at.request
    me = ownership.Owner(names.namespace, names.name, club.uid, str(out.fields.get("tenantId") or club.uid))
    active = db_logins.credential_id(login, password)
    new_password = credentials.generate_password()
    target = db_logins.next_login(names.role, login)
    pol = rotation_condition.service_policy(ctx)
    now = datetime.datetime.now(datetime.UTC)

    def step(
        at: rotation.Record | None, kids: frozenset[str], asked: str | None, done: bool
    ) -> rotation.Plan:
        return rotation.advance(
            at,
            active_kid=active,
            kids=kids,
            propagated=done,
            now=now,
            policy=pol,
            request=asked,
            new_kid=db_logins.credential_id(target, new_password),
            wording=rotation.DATABASE_WORDING,
        )

    try:
        issued = record.issued if record is not None and record.kid == active else now
        seen = _observe(ctx, out, server, record, active, me, issued, _busy(record, active, request, now))
        if seen is None:
            return
        planned = step(record, seen.kids, request, seen.propagated)
        events = list(planned.events)
        if planned.action is rotation.Action.ISSUE:
            _issue(ctx, out, server, _tenant(ctx, me, target, new_password), me)
        elif planned.action is rotation.Action.REVOKE and planned.record.previous_kid is not None:
            retired = db_logins.login_of(planned.record.previous_kid)
            ended = database.retire_login(server, names.database, retired)
            # Nothing to roll out: the server refuses the previous login now. Recorded at once.
            again = step(planned.record, frozenset({active}), None, seen.pods)
            planned = dataclasses.replace(planned, record=again.record)
            events.extend(again.events)
            if ended:
                events.append(f"ended {ended} session(s) of retired database login {retired}")
        elif seen.pods:
            for stray in db_logins.strays(planned.record, active, seen.can_login):
                database.retire_login(server, names.database, stray)
                events.append(f"retired database login {stray}: it could log in, but no rotation issued it")
    except (database.DatabaseUnavailable, database.DatabaseFailed) as exc:
        out.failed(Type.SECRETS_ROTATED, Reason.SERVER_UNAVAILABLE, str(exc))
        return
    rotation_steps.report_service(
        ctx, out, rotation.DATABASE_PASSWORD, at, planned, events=events, phrases=PHRASES
    )


def _busy(record: rotation.Record | None, active: str, request: str | None, now: datetime.datetime) -> bool:
    """Whether a rotation is in flight, due or asked for (else the step has nothing to roll out)."""
    if record is None or record.kid != active or not record.settled:
        return True
    return request is not None or now >= record.next_rotation


def _observe(  # noqa: PLR0917 - the step's inputs, read once by its caller
    ctx: Context,
    out: Outcome,
    server: database.Server,
    record: rotation.Record | None,
    active: str,
    me: ownership.Owner,
    issued: datetime.datetime,
    busy: bool,
) -> _Seen | None:
    """The logins, the pods and the sessions; None (with the condition reported) when a login of the
    Club's names is not the Club's. The pods and sessions are read only when the step may use them:
    `busy` (a rotation in flight, due or asked for) or a stray login to retire."""
    found = _read_logins(server, ctx.names.role)
    conflict = _conflict(found, me)
    if conflict is not None:
        out.condition(Type.SECRETS_ROTATED, False, Reason.CONFLICT, conflict)
        return None
    for state in found.values():
        if state.member and state.owner is None:
            # Made by a rotation that stopped before recording its owner: recorded now.
            pg_owners.record_owner(server, "role", state.name, me)
    can_login = {name: state.can_login for name, state in found.items()}
    kids = db_logins.live_ids(record, active, can_login)
    others = sorted({db_logins.login_of(k) for k in kids} - {db_logins.login_of(active)})
    if not busy and record is not None and not db_logins.strays(record, active, can_login):
        return _Seen(kids, pods=False, propagated=False, can_login=can_login)
    pods = _pods_propagated(ctx, out, issued)
    return _Seen(kids, pods, pods and not _sessions(server, others), can_login)


def _tenant(ctx: Context, me: ownership.Owner, login: str, password: str) -> database.Tenant:
    limits = ctx.spec.database.limits
    return database.Tenant(
        club_id=uuid.UUID(me.tenant),
        slug=ctx.names.slug,
        database=ctx.names.database,
        role=ctx.names.role,
        password=password,
        dedicated=ctx.spec.database.dedicated,
        limits=tenancy.RoleLimits(limits.connection_limit, limits.role_settings),
        login=login,
    )


def _issue(
    ctx: Context, out: Outcome, server: database.Server, tenant: database.Tenant, me: ownership.Owner
) -> None:
    """The Secret names the tenant's login with its password, then the login gets it (created, a
    member of the Club's role, its limits) and records the Club as its owner."""
    names = ctx.names
    existing = kube.read_secret(names.namespace, names.database_secret)
    secret = credentials.build_database_secret(
        names,
        ctx.club.owner,
        host=server.host,
        port=server.port,
        password=tenant.password,
        dsn=server.club_dsn(names.database, tenant.login_role, tenant.password),
        username=tenant.login_role,
    )
    out.secrets[names.database_secret], written = kube.write_secret(secret, existing, keep=frozenset())
    if written:
        out.changed("secret", f"wrote Secret {names.database_secret}")
    database.ensure_tenant(server, tenant, in_place=False)
    pg_owners.record_owner(server, "role", tenant.login_role, me)


_LOGINS = (
    "SELECT r.rolname, r.rolcanlogin, shobj_description(r.oid, 'pg_authid'), "
    "pg_has_role(r.oid, (SELECT oid FROM pg_roles WHERE rolname = %s), 'MEMBER') "
    "FROM pg_roles r WHERE r.rolname = ANY(%s)"
)


def _read_logins(server: database.Server, role: str) -> dict[str, Login]:
    """Each of the Club's logins (db_logins.logins), as the server holds it (one query)."""
    names = db_logins.logins(role)
    try:
        with pg_connections.admin(server.admin()) as conn:
            rows: list[tuple[Any, ...]] = conn.execute(_LOGINS, [role, list(names)]).fetchall()
    except psycopg.Error as exc:
        raise database.translate(exc, "reading the club's database logins") from exc
    found = {name: Login(name) for name in names}
    for name, can_login, comment, member in rows:
        owner = ownership.Owner.from_comment(comment)
        found[str(name)] = Login(str(name), True, bool(can_login), owner, bool(member) and name != role)
    return found


def _conflict(found: dict[str, Login], me: ownership.Owner) -> str | None:
    """Why a login role of the Club's names is not the Club's to use (None: every one is)."""
    role = next(iter(found))  # the role itself: the database step judged it
    for name, state in found.items():
        if name == role or not state.exists:
            continue
        if state.owner is not None and state.owner.uid != me.uid:
            return f"role {name} belongs to Club {state.owner.namespace}/{state.owner.name}"
        if state.owner is None and not state.member:
            return f"role {name} exists and is not one of this Club's logins: it is left alone"
    return None


def _sessions(server: database.Server, logins: list[str]) -> bool:
    """Whether any session of these logins is open on the server (any database)."""
    if not logins:
        return False
    try:
        with pg_connections.admin(server.admin()) as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE usename = ANY(%s)", [logins]
            ).fetchone()
    except psycopg.Error as exc:
        raise database.translate(exc, "reading the sessions of the club's database logins") from exc
    return row is not None and int(row[0]) > 0


def _pods_propagated(ctx: Context, out: Outcome, issued: datetime.datetime) -> bool:
    """Every pod that reads the database Secret runs with what it holds: the API and worker
    Deployments rolled out the template this reconcile applied (observed, every pod updated, none of
    an older template left, all available), and no backup Job pod created by `issued` still runs."""
    if not redis_rotation.pods_propagated(ctx, out):  # the API and workers read it as they read Redis's
        return False
    selector = ",".join(f"{k}={v}" for k, v in ctx.names.labels(backup_job.COMPONENT).items())
    for pod in kube.list_objects("v1", "Pod", ctx.names.namespace, selector):
        if (pod.get("status") or {}).get("phase") not in ("Pending", "Running"):
            continue
        created = backup_record.parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
        if created is None or created <= issued:
            return False
    return True


def replace_now(ctx: Context, out: Outcome) -> str:
    """The breach response's step (revoke.py): the login not in use gets a new password and the
    Secret names it; every other login of the Club is retired (NOLOGIN, password removed, sessions
    ended), and any session the new login had from before is ended too. What was done, in words."""
    names = ctx.names
    data = out.secrets.get(names.database_secret) or {}
    ready = [c for c in out.conditions if c.type == Type.DATABASE_READY]
    if not ready or not ready[-1].status or not data.get(credentials.DB_PASSWORD):
        raise database.DatabaseUnavailable("the club's database is not provisioned yet")
    server = club_servers.database_server(ctx.spec, names.namespace, ctx.settings)
    me = ownership.Owner(
        names.namespace, names.name, ctx.club.uid, str(out.fields.get("tenantId") or ctx.club.uid)
    )
    conflict = _conflict(_read_logins(server, names.role), me)
    if conflict is not None:
        raise database.DatabaseFailed(conflict)
    target = db_logins.next_login(names.role, db_logins.current_login(names.role, data.get("username")))
    password = credentials.generate_password()
    _issue(ctx, out, server, _tenant(ctx, me, target, password), me)
    ended = sum(
        database.retire_login(server, names.database, login)
        for login in db_logins.logins(names.role)
        if login != target
    )
    ended += database.end_sessions(server, target)
    return (
        f"database login {db_logins.credential_id(target, password)} alone ({ended} session(s) ended; every "
        "other login of the club refused)"
    )
