"""What a user asked the API server for, read from the stack's audit log (Stack.start(audit=True),
club_devstack.kube.AUDIT_LOG), and what RBAC rules grant, in the same terms: (API group,
resource or resource/subresource, verb)."""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

Grant = tuple[str, str, str]


@dataclasses.dataclass(frozen=True)
class Request:
    verb: str
    group: str
    resource: str  # with its subresource: clubs/status
    namespace: str | None  # None: cluster-scoped, or across every namespace
    code: int  # the response's HTTP status
    # RBAC refused it (the audit event's authorization.k8s.io/decision). Not every 403 is one: a
    # write into a namespace being deleted is refused with 403 too.
    denied: bool = False

    @property
    def grant(self) -> Grant:
        return (self.group, self.resource, self.verb)


def requests(log: Path, username: str, *, until: datetime.datetime | None = None) -> set[Request]:
    """Every resource request `username` made (non-resource URLs such as discovery left out), or
    those the API server received before `until`. A server-side apply that created its object is
    logged as a patch answered 201, and the API server authorized it as a create as well
    (apiserver's handlers/patch.go): it counts as both."""
    found = set()
    for line in log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef")
        if event["user"]["username"] != username or not ref or "resource" not in ref:
            continue
        if until is not None and datetime.datetime.fromisoformat(event["requestReceivedTimestamp"]) >= until:
            continue
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        code = int((event.get("responseStatus") or {}).get("code", 0))
        denied = (event.get("annotations") or {}).get("authorization.k8s.io/decision") == "forbid"
        request = Request(
            event["verb"], ref.get("apiGroup", ""), resource, ref.get("namespace"), code, denied
        )
        found.add(request)
        if request.verb == "patch" and code == 201:
            found.add(dataclasses.replace(request, verb="create"))
    return found


def grants(rules: Iterable[Mapping[str, Any]]) -> set[Grant]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


WRITES = frozenset({"create", "update", "patch", "delete", "deletecollection"})


@dataclasses.dataclass(frozen=True)
class Write:
    verb: str
    resource: str  # with its subresource, as in Request
    namespace: str | None
    name: str
    code: int


def writes(log: Path, username: str, since: datetime.datetime, until: datetime.datetime) -> list[Write]:
    """Every write (create, update, patch, delete) `username` asked for between `since` and
    `until`, in the order the API server received them, Events and Leases left out (a reconcile
    reports through Events; leader election renews its Lease)."""
    found = []
    for line in log.read_text().splitlines():
        event = json.loads(line)
        ref = event.get("objectRef")
        if event["user"]["username"] != username or not ref or event["verb"] not in WRITES:
            continue
        if ref.get("resource") in (None, "events", "leases") or event.get("stage") != "ResponseComplete":
            continue
        if not since <= datetime.datetime.fromisoformat(event["requestReceivedTimestamp"]) < until:
            continue
        resource = ref["resource"] + (f"/{ref['subresource']}" if ref.get("subresource") else "")
        code = int((event.get("responseStatus") or {}).get("code", 0))
        found.append(Write(event["verb"], resource, ref.get("namespace"), ref.get("name", ""), code))
    return found
