"""The figures the operator scale benchmark reads: writes the API server served (its own counter,
and the objects of the benchmark's namespace that changed) and the operator's own (RSS, CPU,
reconciles from its metrics). Used by bench_operator_scale.py."""

from __future__ import annotations

import math
import os
import re
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes import dynamic
from prometheus_client.parser import text_string_to_metric_families

GROUP, VERSION = "footballclub.io", "v1alpha1"
WRITE_VERBS = {"POST", "PUT", "PATCH", "DELETE"}
# Resources the operator writes; their status subresources are written by controllers (but a Club's).
OPERATOR_RESOURCES = {
    "clubs",
    "secrets",
    "configmaps",
    "services",
    "deployments",
    "horizontalpodautoscalers",
    "scaledobjects",
    "triggerauthentications",
    "poddisruptionbudgets",
    "networkpolicies",
    "events",
}
# --- the API server's write counter ----------------------------------------------------------

Series = tuple[str, str, str]  # resource, subresource, verb
LABEL = re.compile(r'(\w+)="([^"]*)"')


def api_writes(api: k8s.ApiClient) -> Counter[Series]:
    """apiserver_request_total for the write verbs, by (resource, subresource, verb). The page is
    megabytes of histograms: only the counter's lines are parsed."""
    resp = api.call_api(*api.param_serialize("GET", "/metrics", auth_settings=["BearerToken"]))
    cast(Any, resp).read()  # the client's REST response is untyped
    counts: Counter[Series] = Counter()
    for line in (resp.data or b"").decode().splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        series, _, value = line.rpartition(" ")
        labels = dict(LABEL.findall(series))
        if labels.get("verb") in WRITE_VERBS:
            key = (labels.get("resource", ""), labels.get("subresource", ""), labels["verb"])
            counts[key] += int(float(value))
    return counts


def operator_share(writes: Counter[Series]) -> int:
    return sum(
        n
        for (resource, sub, _), n in writes.items()
        if resource in OPERATOR_RESOURCES and (sub == "" or resource == "clubs")
    )


def describe(writes: Counter[Series], top: int = 8) -> str:
    by_resource: Counter[str] = Counter()
    for (resource, sub, _), n in writes.items():
        by_resource[f"{resource}/{sub}" if sub else resource] += n
    return ", ".join(f"{name} {n}" for name, n in by_resource.most_common(top) if n)


# Objects in the bench's namespace and the field that changes when someone writes them: the whole
# object's resourceVersion, or `generation` (the spec) where controllers write the status.
WATCHED = (
    (f"{GROUP}/{VERSION}", "Club", "resourceVersion"),
    ("v1", "Secret", "resourceVersion"),
    ("v1", "ConfigMap", "resourceVersion"),
    ("v1", "Service", "resourceVersion"),
    ("networking.k8s.io/v1", "NetworkPolicy", "resourceVersion"),
    ("apps/v1", "Deployment", "generation"),
    ("autoscaling/v2", "HorizontalPodAutoscaler", "generation"),
    ("policy/v1", "PodDisruptionBudget", "generation"),
)


def namespace_marks(api: k8s.ApiClient, namespace: str) -> dict[tuple[str, str], str]:
    """What a write by the operator would change in the namespace, and how many Events kopf posted.
    Unlike the API server's counter, nobody else's traffic shows here."""
    client = dynamic.DynamicClient(api)  # type: ignore[no-untyped-call]
    marks: dict[tuple[str, str], str] = {}
    for api_version, kind, field in WATCHED:
        for item in client.resources.get(api_version=api_version, kind=kind).get(namespace=namespace).items:
            meta = item.metadata
            marks[(kind, meta.name)] = str(meta[field])
    events = client.resources.get(api_version="v1", kind="Event").get(namespace=namespace).items
    marks[("Event", "posted by kopf")] = str(
        sum(e.count or 1 for e in events if e.source.component == "kopf")
    )
    return marks


def kopf_events(api: k8s.ApiClient, namespace: str) -> Counter[tuple[str, str]]:
    """Events the operator posted in the namespace (counting repeats), by reason and message (the
    Club's name taken out)."""
    client = dynamic.DynamicClient(api)  # type: ignore[no-untyped-call]
    posted: Counter[tuple[str, str]] = Counter()
    for e in client.resources.get(api_version="v1", kind="Event").get(namespace=namespace).items:
        if e.source.component == "kopf":
            message = str(e.message or "").replace(str(e.involvedObject.name), "<club>")
            posted[(str(e.reason), re.sub(r"[0-9a-f]{12}", "<id>", message))] += e.count or 1
    return posted


def by_reason(events: Counter[tuple[str, str]]) -> Counter[str]:
    reasons: Counter[str] = Counter()
    for (reason, _), n in events.items():
        reasons[reason] += n
    return reasons


def changed(before: dict[tuple[str, str], str], after: dict[tuple[str, str], str]) -> Counter[str]:
    """Objects written between two marks, by kind (Events: how many more kopf posted)."""
    moved: Counter[str] = Counter()
    for key in before.keys() | after.keys():
        if key == ("Event", "posted by kopf"):
            moved["Event"] += int(after.get(key, "0")) - int(before.get(key, "0"))
        elif before.get(key) != after.get(key):
            moved[key[0]] += 1
    return +moved


# --- the operator's own figures --------------------------------------------------------------


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return math.nan


def cpu_seconds(pid: int) -> float:
    """User and system CPU the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reconcile_figures(port: int) -> tuple[int, float, float]:
    """Reconciles so far, their mean duration, and the upper bound of the bucket holding the p95."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    buckets: list[tuple[float, float]] = []
    count = total = 0.0
    for family in text_string_to_metric_families(text):
        if family.name != "club_operator_reconcile_duration_seconds":
            continue
        for sample in family.samples:
            if sample.name.endswith("_bucket"):
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith("_count"):
                count = sample.value
            elif sample.name.endswith("_sum"):
                total = sample.value
    p95 = next((le for le, n in sorted(buckets) if count and n >= 0.95 * count), math.nan)
    return int(count), (total / count if count else math.nan), p95


def resyncs_waiting(port: int) -> float:
    """Resyncs waiting for a slot of the operator's resync gate now (NaN from an operator without it)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    for family in text_string_to_metric_families(text):
        if family.name == "club_operator_resyncs_waiting":
            return float(family.samples[0].value)
    return math.nan
