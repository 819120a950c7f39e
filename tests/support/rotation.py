"""What the rotation tests read and ask of a Club: its status record of one credential's rotation,
the footballclub.io/rotate request, and whether a Deployment's pods all run its current template."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from tests.support import clubs, crds

CONFIG_HASH = "footballclub.io/config-hash"


def record(custom: k8s.CustomObjectsApi, namespace: str, club: str, credential: str) -> dict[str, Any]:
    """`status.rotation.<credential>` of the Club, or {} before it has one."""
    body = clubs.get_club(custom, namespace, club) or {}
    found: dict[str, Any] = ((body.get("status") or {}).get("rotation") or {}).get(credential) or {}
    return found


def status_time(text: str) -> datetime:
    """A time as the operator writes it in status (RFC 3339, whole seconds, UTC)."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def request(custom: k8s.CustomObjectsApi, namespace: str, club: str, value: str) -> None:
    """Ask for a rotation of every credential, as
    `kubectl annotate club <club> footballclub.io/rotate=<value>` does."""
    patch = {"metadata": {"annotations": {"footballclub.io/rotate": value}}}
    custom.patch_namespaced_custom_object(crds.GROUP, crds.VERSION, namespace, "clubs", club, patch)


def rolled_out(apps: k8s.AppsV1Api, core: k8s.CoreV1Api, namespace: str, deployment_name: str) -> bool:
    """Every pod of the Deployment (none terminating) carries its template's config hash and is
    Ready, as many as the Deployment wants."""
    deployment = apps.read_namespaced_deployment(deployment_name, namespace)
    want = deployment.spec.template.metadata.annotations[CONFIG_HASH]
    selector = ",".join(f"{k}={v}" for k, v in deployment.spec.selector.match_labels.items())
    pods = [
        p
        for p in core.list_namespaced_pod(namespace, label_selector=selector).items
        if p.metadata.deletion_timestamp is None
    ]
    ready = [
        p
        for p in pods
        if (p.metadata.annotations or {}).get(CONFIG_HASH) == want
        and any(c.type == "Ready" and c.status == "True" for c in p.status.conditions or [])
    ]
    return len(pods) == len(ready) == (deployment.spec.replicas or 0)


@dataclass(frozen=True)
class Reports:
    """What the operator reports about a Club, where no credential may ever appear: the Club as
    stored (status included), its Events' messages, the operator's log and its metrics."""

    club: str
    messages: list[str]
    log: str
    metrics: str

    def leak_none_of(self, values: Iterable[str]) -> None:
        for value in values:
            assert value not in self.club
            assert not any(value in m for m in self.messages)
            assert value not in self.log
            assert value not in self.metrics

    def issued_ids(self, phrase: str) -> set[str]:
        """The ids the Events name after `phrase` (for example "issued Redis password")."""
        return {m.split(f"{phrase} ")[1].split()[0] for m in self.messages if f"{phrase} " in m}

    def last_rotation(self, namespace: str, club: str, credential: str) -> float | None:
        return clubs.metric_value(
            self.metrics,
            "club_secret_last_rotation_timestamp_seconds",
            namespace=namespace,
            club=club,
            credential=credential,
        )


def reports(
    custom: k8s.CustomObjectsApi, core: k8s.CoreV1Api, namespace: str, club: str, log: Path, metrics_port: int
) -> Reports:
    return Reports(
        club=json.dumps(clubs.get_club(custom, namespace, club)),
        messages=[e.message or "" for e in clubs.events(core, namespace, club)],
        log=log.read_text(errors="replace"),
        metrics=clubs.metrics_text(metrics_port),
    )
