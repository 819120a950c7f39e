"""Helpers for tests that run the operator: create Clubs, wait for their conditions, read their
Secrets, Events and metrics."""

from __future__ import annotations

import base64
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

GROUP, VERSION, PLURAL = "footballclub.io", "v1alpha1", "clubs"


def create_club(custom: k8s.CustomObjectsApi, namespace: str, manifest: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = custom.create_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, manifest
    )
    return result


def get_object(custom: k8s.CustomObjectsApi, namespace: str, plural: str, name: str) -> dict[str, Any] | None:
    """One of our custom objects (clubs, videojobs); None when it does not exist."""
    try:
        found: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return found


def get_club(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any] | None:
    return get_object(custom, namespace, PLURAL, name)


def condition(club: dict[str, Any] | None, type_: str) -> dict[str, Any] | None:
    for cond in ((club or {}).get("status") or {}).get("conditions") or []:
        if cond["type"] == type_:
            return dict(cond)
    return None


def wait_for(what: str, check: Callable[[], Any], timeout: float = 90, interval: float = 0.5) -> Any:
    """Poll until `check` returns something truthy; fail with `what` and the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}; last seen: {last!r}")


def wait_condition(
    custom: k8s.CustomObjectsApi,
    namespace: str,
    name: str,
    type_: str,
    status: str,
    *,
    reason: str | None = None,
    timeout: float = 90,
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        club = get_club(custom, namespace, name)
        cond = condition(club, type_)
        if cond and cond["status"] == status and (reason is None or cond["reason"] == reason):
            return club
        return None

    try:
        club: dict[str, Any] = wait_for(f"{name} {type_}={status} ({reason or 'any reason'})", check, timeout)
    except AssertionError as exc:
        seen = (get_club(custom, namespace, name) or {}).get("status")
        raise AssertionError(f"{exc}; the Club's status: {seen!r}") from None
    return club


def wait_gone(custom: k8s.CustomObjectsApi, namespace: str, name: str, timeout: float = 90) -> None:
    wait_for(f"{name} to be deleted", lambda: get_club(custom, namespace, name) is None, timeout)


def delete_club(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> None:
    """Delete the Club and wait until its finalizer has run and it is gone."""
    custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
    wait_gone(custom, namespace, name)


def ready_status(
    custom: k8s.CustomObjectsApi, namespace: str, name: str, timeout: float = 120
) -> dict[str, Any]:
    """The Club's status once it is Ready."""
    club = wait_condition(custom, namespace, name, "Ready", "True", timeout=timeout)
    status: dict[str, Any] = club["status"]
    return status


def secret_data(core: k8s.CoreV1Api, namespace: str, name: str) -> dict[str, str]:
    secret = core.read_namespaced_secret(name, namespace)
    return {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}


def events(core: k8s.CoreV1Api, namespace: str, name: str) -> list[k8s.CoreV1Event]:
    listed = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    return list(listed.items)


def metrics_text(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def metric_value(text: str, name: str, **labels: str) -> float | None:
    """The value of one sample in Prometheus text format, or None if absent."""
    want = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series == (f"{name}{{{want}}}" if want else name) or _same_series(series, name, labels):
            return float(value)
    return None


def _same_series(series: str, name: str, labels: dict[str, str]) -> bool:
    if not series.startswith(name + "{"):
        return False
    pairs = dict(p.split("=", 1) for p in series[len(name) + 1 : -1].split(",") if p)
    return {k: v.strip('"') for k, v in pairs.items()} == labels


def wait_events(
    core: k8s.CoreV1Api, namespace: str, name: str, reason: str, timeout: float = 30
) -> list[Any]:
    """The object's Events with this reason, once there is at least one (kopf posts them asynchronously)."""
    found: list[Any] = wait_for(
        f"a {reason} Event on {name}",
        lambda: [e for e in events(core, namespace, name) if e.reason == reason],
        timeout,
    )
    return found


PROBE_TIME = "club_operator_tenant_isolation_last_probe_timestamp_seconds"
WHOLE_RECONCILES = "club_operator_club_whole_reconciles_total"


def probe_time(port: int, namespace: str, name: str) -> float | None:
    """When the operator last probed the Club's isolation (its own metric, one series per Club)."""
    return metric_value(metrics_text(port), PROBE_TIME, namespace=namespace, club=name)


def whole_reconciles(port: int, namespace: str, name: str) -> float:
    """How many whole reconciles of the Club the operator completed (its own per-Club counter)."""
    found = metric_value(metrics_text(port), WHOLE_RECONCILES, namespace=namespace, club=name)
    return found or 0


def wait_reconciles(port: int, namespace: str, name: str, count: int, timeout: float = 90) -> None:
    """Wait until `count` whole reconciles of the Club have both started and finished after this call.

    The operator counts a Club's whole reconciles once each has reported its status, and one Club's
    reconciles run one at a time: the first counted after this call may have begun before it, so
    `count + 1` more mean `count` whole reconciles in between."""
    start = whole_reconciles(port, namespace, name)
    wait_for(
        f"{count} whole reconciles of {namespace}/{name}",
        lambda: whole_reconciles(port, namespace, name) >= start + count + 1,
        timeout,
        interval=0.1,
    )
