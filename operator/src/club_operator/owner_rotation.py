"""The bootstrap owner's password: one step per reconcile of owner_plan.plan_owner, after the
workloads. The Secret `<club>-owner` and the owner's row in public.users (written through the
operator's admin connection to the Club's database, as the isolation canary is; RLS does not apply
to it) change together: the Secret first, keeping the password it replaces as `previous-password`,
then the row (only where its hash is still the one read: a compare-and-set, so a password the owner
sets meanwhile is never overwritten), then `previous-password` is cleared (set empty).

The row is checked with the runtime's own password check (club_runtime.core.security), only when a
rotation is due, asked for, or in flight. The owner's token_version is left alone: the owner's
sessions stay signed in (the credential replaced is the bootstrap password, not a session)."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg

from club_operator import (
    club_servers,
    credentials,
    database,
    kube,
    owner_plan,
    pg_connections,
    rotation,
    rotation_steps,
)
from club_operator.club import Context
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome
from club_runtime.core import security


def _owner_row(server: database.Server, db: str, tenant: str, email: str) -> str | None:
    """The owner's password hash, None when the account does not exist yet."""
    try:
        with pg_connections.admin(server.admin(db)) as conn:
            row = conn.execute(
                "SELECT password_hash FROM public.users WHERE club_id = %s AND email = %s", [tenant, email]
            ).fetchone()
    except psycopg.Error as exc:
        raise database.translate(exc, f"reading the owner's account in {db}") from exc
    return None if row is None else str(row[0])


def _set_owner_hash(
    server: database.Server, db: str, tenant: str, email: str, *, was: str, password: str
) -> bool:
    """Replace the owner's hash where it is still `was`; True when it was replaced."""
    new_hash = security.hash_password(password)
    try:
        with pg_connections.admin(server.admin(db)) as conn:
            cur = conn.execute(
                "UPDATE public.users SET password_hash = %s, updated_at = now() "
                "WHERE club_id = %s AND email = %s AND password_hash = %s",
                [new_hash, tenant, email, was],
            )
            return cur.rowcount == 1
    except psycopg.Error as exc:
        raise database.translate(exc, f"replacing the owner's password in {db}") from exc


def _row_state(found: str | None, current: str, previous: str) -> owner_plan.Row:
    if found is None:
        return owner_plan.Row.ABSENT
    if security.verify_password(found, current):
        return owner_plan.Row.CURRENT
    if previous and security.verify_password(found, previous):
        return owner_plan.Row.PREVIOUS
    return owner_plan.Row.OTHER


def _write_secret(ctx: Context, out: Outcome, data: dict[str, str]) -> None:
    names = ctx.names
    manifest = credentials.build_owner_secret(
        names, ctx.club.owner, password=data[credentials.OWNER_PASSWORD]
    )
    manifest["stringData"][credentials.OWNER_PREVIOUS_PASSWORD] = data.get(
        credentials.OWNER_PREVIOUS_PASSWORD, ""
    )
    existing = kube.read_secret(names.namespace, names.owner_secret)
    out.secrets[names.owner_secret], written = kube.write_secret(manifest, existing, keep=frozenset())
    if written:
        out.changed("secret", f"wrote Secret {names.owner_secret}")


def ensure_owner_rotation(ctx: Context, out: Outcome) -> None:
    """One step of the owner password's rotation (module docstring; owner_plan.plan_owner). Scheduled
    on spec.secrets.rotation.databasePasswordInterval (the CRD's interval for passwords), on
    request by footballclub.io/rotate. Reports status.rotation.ownerPassword (ids and times only),
    its Events and club_secret_last_rotation_timestamp_seconds{credential="ownerPassword"}."""
    names = ctx.names
    data = dict(out.secrets.get(names.owner_secret) or {})
    current = data.get(credentials.OWNER_PASSWORD)
    tenant = out.fields.get("tenantId")
    if not current or not tenant:
        return
    previous = data.get(credentials.OWNER_PREVIOUS_PASSWORD) or ""
    at = rotation_steps.standing(ctx, rotation.OWNER_PASSWORD)
    record, request = at.record, at.request
    now = datetime.datetime.now(datetime.UTC)
    email = data.get("email", "").lower()
    found: str | None = None
    row: owner_plan.Row | None = None
    try:
        server = club_servers.database_server(ctx.spec, names.namespace, ctx.settings)
        if owner_plan.owner_needs_row(record, has_previous=bool(previous), now=now, request=request):
            found = _owner_row(server, names.database, tenant, email)
            row = _row_state(found, current, previous)
        new_password = credentials.generate_password()
        planned = owner_plan.plan_owner(
            record,
            current_id=credentials.owner_password_id(current),
            previous_id=credentials.owner_password_id(previous) if previous else None,
            row=row,
            now=now,
            interval=ctx.spec.secrets.rotation.database_password_period,
            request=request,
            new_id=credentials.owner_password_id(new_password),
        )
        if planned.write is owner_plan.OwnerWrite.ISSUE and found is not None:
            data |= {credentials.OWNER_PASSWORD: new_password, credentials.OWNER_PREVIOUS_PASSWORD: current}
            _write_secret(ctx, out, data)
            _finish(ctx, out, server, tenant=tenant, email=email, found=found, data=data)
        elif planned.write is owner_plan.OwnerWrite.FINISH and found is not None:
            _finish(ctx, out, server, tenant=tenant, email=email, found=found, data=data)
        elif planned.write is owner_plan.OwnerWrite.CLEAR:
            _write_secret(ctx, out, data | {credentials.OWNER_PREVIOUS_PASSWORD: ""})
    except (
        club_servers.ServerNotConfigured,
        database.InvalidServer,
        database.DatabaseUnavailable,
        database.DatabaseFailed,
    ) as exc:
        out.failed(Type.SECRETS_ROTATED, Reason.SERVER_UNAVAILABLE, f"owner password: {exc}")
        return
    rotation_steps.report(
        ctx,
        out,
        rotation.OWNER_PASSWORD,
        at,
        planned.record,
        request_handled=planned.request_handled,
        events=planned.events,
    )


def _finish(
    ctx: Context,
    out: Outcome,
    server: database.Server,
    *,
    tenant: str,
    email: str,
    found: str,
    data: dict[str, Any],
) -> None:
    """The row to the Secret's password (where it still holds the hash read), then the previous
    password cleared from the Secret. A row changed meanwhile (the owner set a password) is left
    as it is; the previous password is cleared all the same."""
    _set_owner_hash(
        server, ctx.names.database, tenant, email, was=found, password=data[credentials.OWNER_PASSWORD]
    )
    _write_secret(ctx, out, data | {credentials.OWNER_PREVIOUS_PASSWORD: ""})


def replace_now(ctx: Context, out: Outcome) -> str:
    """The breach response's step (revoke.py): a new bootstrap password in the Secret and, where the
    owner's account still accepts the bootstrap one, in the account at once. What was done, in words
    (ids only)."""
    names = ctx.names
    data = dict(
        out.secrets.get(names.owner_secret) or kube.read_secret(names.namespace, names.owner_secret) or {}
    )
    current = data.get(credentials.OWNER_PASSWORD)
    tenant = out.fields.get("tenantId")
    if not current or not tenant:
        return "no owner password yet"
    server = club_servers.database_server(ctx.spec, names.namespace, ctx.settings)
    email = data.get("email", "").lower()
    found = _owner_row(server, names.database, tenant, email)
    row = _row_state(found, current, data.get(credentials.OWNER_PREVIOUS_PASSWORD) or "")
    new_password = credentials.generate_password()
    data |= {credentials.OWNER_PASSWORD: new_password, credentials.OWNER_PREVIOUS_PASSWORD: current}
    _write_secret(ctx, out, data)
    new_id = credentials.owner_password_id(new_password)
    if found is not None and row in (owner_plan.Row.CURRENT, owner_plan.Row.PREVIOUS):
        _finish(ctx, out, server, tenant=tenant, email=email, found=found, data=data)
        return f"owner password {new_id}: the owner's account refuses the old one"
    _write_secret(ctx, out, data | {credentials.OWNER_PREVIOUS_PASSWORD: ""})
    if found is None:
        return f"owner password {new_id} in the Secret (no owner account yet)"
    return f"owner password {new_id} in the Secret; the owner's account holds a password of the owner's own"
