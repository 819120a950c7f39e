"""The bootstrap owner's password through the operator (owner_rotation.py), on the stack's real
PostgreSQL: the owner's account is created as the runtime creates it (from the Secret, with the
runtime's own hash); the footballclub.io/rotate annotation replaces the Secret's password and the
account's hash together (no overlap: the old password is refused at once); a rotation written to
the Secret but not to the account, as a crash leaves it, is finished without a new password; a
password the owner chose is never overwritten. No password appears in Events, status or the log."""

from __future__ import annotations

from typing import Any

import psycopg
from kubernetes import client as k8s

from club_devstack.stack import StackInfo
from club_operator import credentials
from club_runtime.core import security
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds, rotation

NAME = "owner-rotating-fc"
SPEC = {"displayName": "Owner Rotating FC"}


def _record(custom: k8s.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    return rotation.record(custom, namespace, NAME, "ownerPassword")


def _annotate(custom: k8s.CustomObjectsApi, namespace: str, value: str) -> None:
    rotation.request(custom, namespace, NAME, value)


class Account:
    """The owner's row, through the admin connection to the Club's database."""

    def __init__(self, stack: StackInfo, status: dict[str, Any], email: str) -> None:
        self.dsn, self.database = stack.postgres.dsn(), status["databaseName"]
        self.tenant, self.email = status["tenantId"], email

    def _conn(self) -> psycopg.Connection[Any]:
        return psycopg.connect(self.dsn, dbname=self.database, autocommit=True)

    def create(self, password: str) -> None:
        """As the runtime's ensure_bootstrap_owner does on the API's first start."""
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO public.users (club_id, email, full_name, password_hash, role) "
                "VALUES (%s, %s, 'Owner', %s, 'owner')",
                [self.tenant, self.email, security.hash_password(password)],
            )

    def set(self, password: str) -> None:
        with self._conn() as conn:
            conn.execute(
                "UPDATE public.users SET password_hash = %s WHERE club_id = %s AND email = %s",
                [security.hash_password(password), self.tenant, self.email],
            )

    def accepts(self, password: str) -> bool:
        with self._conn() as conn:
            row = conn.execute(
                "SELECT password_hash FROM public.users WHERE club_id = %s AND email = %s",
                [self.tenant, self.email],
            ).fetchone()
        return row is not None and security.verify_password(str(row[0]), password)


def test_the_owner_password_is_replaced_in_the_secret_and_the_account_together(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    stack: StackInfo,
) -> None:
    clubs.create_club(custom, namespace, crds.manifest("Club", SPEC, NAME))
    club = clubs.wait_condition(custom, namespace, NAME, "Ready", "True", timeout=180)
    first = clubs.wait_for("the first record", lambda: _record(custom, namespace) or None, timeout=60)
    secret = clubs.secret_data(core, namespace, f"{NAME}-owner")
    old = secret["password"]
    assert first["kid"] == credentials.owner_password_id(old)
    account = Account(stack, club["status"], secret["email"].lower())
    account.create(old)
    seen = {old}

    _annotate(custom, namespace, "drill-owner")
    rotated = clubs.wait_for(
        "the owner password to be replaced",
        lambda: (r := _record(custom, namespace)).get("previousKid") == first["kid"] and r,
        timeout=60,
    )
    assert rotated["phase"] == "Revoked"
    assert rotated["issuedTime"] == rotated["propagatedTime"] == rotated["revokedTime"]
    secret = clubs.secret_data(core, namespace, f"{NAME}-owner")
    new = secret["password"]
    seen.add(new)
    assert rotated["kid"] == credentials.owner_password_id(new) != first["kid"]
    assert secret.get("previous-password", "") == ""
    assert account.accepts(new)
    assert not account.accepts(old)

    # As a crash between the Secret and the account leaves it: the Secret holds a new password and
    # keeps the one the account still has. The operator finishes it; no password of its own.
    third = credentials.generate_password()
    seen.add(third)
    core.patch_namespaced_secret(
        f"{NAME}-owner", namespace, {"stringData": {"password": third, "previous-password": new}}
    )
    clubs.wait_for(
        "the half-done rotation to be finished",
        lambda: (
            (r := _record(custom, namespace)).get("kid") == credentials.owner_password_id(third)
            and clubs.secret_data(core, namespace, f"{NAME}-owner").get("previous-password") == ""
            and r
        ),
        timeout=60,
    )
    assert clubs.secret_data(core, namespace, f"{NAME}-owner")["password"] == third
    assert account.accepts(third)
    assert not account.accepts(new)

    # A password the owner chose is theirs: a request rotates nothing.
    account.set("the owner's own choice")
    _annotate(custom, namespace, "drill-owner-2")
    clubs.wait_for(
        "the request to be looked at",
        lambda: _record(custom, namespace).get("request") == "drill-owner-2",
        timeout=60,
    )
    record = _record(custom, namespace)
    assert record["reason"] == "owner-chosen"
    assert record["kid"] == credentials.owner_password_id(third)
    assert clubs.secret_data(core, namespace, f"{NAME}-owner")["password"] == third
    assert account.accepts("the owner's own choice")

    messages = [e.message or "" for e in clubs.events(core, namespace, NAME)]
    issued = {
        m.split("issued owner password ")[1].split()[0] for m in messages if "issued owner password" in m
    }
    assert issued == {rotated["kid"]}  # one new password of the operator's in all
    club_json = str(clubs.get_club(custom, namespace, NAME))
    log = club_operator.log.read_text(errors="replace")
    metrics = clubs.metrics_text(club_operator.metrics_port)
    for password in seen:
        assert password not in club_json
        assert not any(password in m for m in messages)
        assert password not in log
        assert password not in metrics
