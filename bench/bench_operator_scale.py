"""Benchmark of the operator at scale: create N Clubs (shared isolation) in one namespace at once,
with `club-operator` as a real process watching that namespace, and print

- the time until every Club is Ready, and p50/p95 of each Club's time to Ready (creationTimestamp to
  the Ready condition's lastTransitionTime: both have one-second resolution);
- the operator's peak RSS (VmHWM) and its reconciles (count, mean and p95 duration, from its own
  `club_operator_reconcile_duration_seconds`);
- writes the API server served (`apiserver_request_total`, verbs POST/PUT/PATCH/DELETE) per Club while
  provisioning, and during a steady-state window once every Club is Ready: all of them, and those on
  the objects the operator manages (Clubs and their status, Secrets, ConfigMaps, Services,
  Deployments, autoscalers, PDBs, NetworkPolicies, Events). The API server counts every client:
  the control plane's own writes (Pods, ReplicaSets, bindings, statuses, leases) are in the first
  figure, and so is anyone else using the same stack at the time. The operator's own figure counts
  the Events it posted (from the namespace), not the control plane's;
- what the first resync after Ready writes (it records each new credential as propagated), apart
  from the steady-state window that follows it;
- how soon one edited Club's status observes the edit while the others idle (p50, p95 of ten), and
  how many resyncs were waiting for a slot when each edit was made (the operator's
  `club_operator_resyncs_waiting`: an edit is reconciled ahead of them, resync_gate.py);
- the time to delete them all; and, with more than one round, the rounds side by side.

Goals on a 2-core machine: 200 Clubs Ready in under 120 s; 0 writes in steady state; at most 20
writes per Club by the operator. Figures are printed, not asserted.

    .venv/bin/python bench/bench_operator_scale.py [--clubs 50,200,1000] [--steady-seconds 60]

Reuses the stack named by CLUB_STACK_FILE (`make stack`), or starts one of its own. Each Club runs
three tiny pods (API, default and video worker); the stack's two fake CPU nodes hold 220 pods, so the
bench adds fake nodes of its own for the run. Everything it creates (namespaces, Clubs with their
roles and buckets, nodes) is deleted at the end, the Clubs while the operator still runs so that
their finalizers complete."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import math
import os
import statistics
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes import dynamic
from kubernetes.client.exceptions import ApiException

from club_devstack import nodes
from club_devstack import stack as stack_module
from club_devstack.operator import RunningOperator, start_operator
from club_devstack.stack import StackInfo
from operator_figures import (
    Series,
    api_writes,
    by_reason,
    changed,
    cpu_seconds,
    describe,
    kopf_events,
    namespace_marks,
    operator_share,
    peak_rss_mib,
    reconcile_figures,
    resyncs_waiting,
)

GROUP, VERSION, PLURAL = "footballclub.io", "v1alpha1", "clubs"
SMALL = {"requests": {"cpu": "1m", "memory": "8Mi"}, "limits": {"memory": "64Mi"}}
SPEC = {
    "api": {"replicas": 1, "resources": SMALL},
    "workers": {"default": {"resources": SMALL}, "video": {"resources": SMALL}},
}
PODS_PER_CLUB = 3
BENCH_NODE_PODS = 500
GOAL_READY_SEC = 120.0
GOAL_READY_CLUBS = 200


# --- Clubs ------------------------------------------------------------------------------------


def _time(stamp: str) -> datetime.datetime:
    return datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


def _ready_since(club: dict[str, Any]) -> str | None:
    for cond in (club.get("status") or {}).get("conditions") or []:
        if cond["type"] == "Ready" and cond["status"] == "True":
            return str(cond["lastTransitionTime"])
    return None


def list_clubs(custom: k8s.CustomObjectsApi, namespace: str) -> list[dict[str, Any]]:
    listed = cast(dict[str, Any], custom.list_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL))
    items: list[dict[str, Any]] = listed["items"]
    return items


def wait(what: str, check: Callable[[], bool], timeout: float, interval: float = 1.0) -> float:
    """Poll `check` until true; returns when (monotonic); raises after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError(f"{what}: not after {timeout:.0f}s")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


@contextlib.contextmanager
def bench_nodes(api: k8s.ApiClient, pods: int) -> Iterator[list[str]]:
    """Fake nodes (run by the stack's kwok) with room for `pods` more pods, once Ready; deleted
    afterwards."""
    client = dynamic.DynamicClient(api)  # type: ignore[no-untyped-call]
    node_api = client.resources.get(api_version="v1", kind="Node")
    names = [f"bench-node-{i}" for i in range(1, math.ceil(pods / BENCH_NODE_PODS) + 1)]
    try:
        for name in names:
            body = nodes.build_node(name, gpu=False)
            body["status"]["capacity"].update(cpu="64", memory="256Gi", pods=str(BENCH_NODE_PODS))
            body["status"]["allocatable"] = dict(body["status"]["capacity"])
            node_api.create(body=body)

        def ready() -> bool:
            listed = [node_api.get(name=name).to_dict() for name in names]
            conditions = [c for node in listed for c in node.get("status", {}).get("conditions") or []]
            return bool(sum(c["type"] == "Ready" and c["status"] == "True" for c in conditions) == len(names))

        wait("the bench's nodes Ready", ready, timeout=60)
        yield names
    finally:
        for name in names:
            with contextlib.suppress(ApiException):
                node_api.delete(name=name)


@dataclass
class Round:
    clubs: int
    all_ready_sec: float
    p50_sec: float
    p95_sec: float
    provisioning_writes: Counter[Series]
    steady_writes: Counter[Series]
    steady_ours: Counter[str]
    steady_sec: float
    peak_rss_mib: float
    operator_cpu_sec: float
    reconciles: tuple[int, float, float]
    delete_sec: float
    kopf_events: Counter[tuple[str, str]]
    steady_events: Counter[tuple[str, str]]
    settling: Counter[str]
    idle_rss_mib: float
    settling_events: Counter[tuple[str, str]]
    edit_latency: list[float]
    edit_waiting: list[float]


EDITS = 10


def edit_latency(
    custom: k8s.CustomObjectsApi, namespace: str, names: list[str], waiting: Callable[[], float]
) -> tuple[list[float], list[float]]:
    """Seconds from a spec change of one Club (the others idle) until its status has observed it:
    the Clubs edited one after the other; and the resyncs `waiting` for a slot as each was made."""
    seconds, queued = [], []
    for i, name in enumerate(names):
        queued.append(waiting())
        edited = custom.patch_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, name, {"spec": {"displayName": f"Edited {i}"}}
        )
        generation = cast(dict[str, Any], edited)["metadata"]["generation"]
        started = time.monotonic()

        def observed(name: str = name, generation: int = generation) -> bool:
            club = cast(
                dict[str, Any], custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
            )
            return bool((club.get("status") or {}).get("observedGeneration") == generation)

        seconds.append(
            wait(f"Club {name} to observe its edit", observed, timeout=300, interval=0.05) - started
        )
    return seconds, queued


def run_round(
    stack: StackInfo,
    api: k8s.ApiClient,
    count: int,
    steady_sec: float,
    logs: Path,
    *,
    settings: dict[str, str],
) -> Round:
    core, custom = k8s.CoreV1Api(api), k8s.CustomObjectsApi(api)
    # A namespace of its own, so that the figures count only the benchmark's Clubs.
    namespace = f"bench-{uuid.uuid4().hex[:8]}"
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace)))
    operator: RunningOperator | None = None
    try:
        operator_settings = {"resync_interval_sec": "30", "connect_timeout_sec": "5"} | settings
        operator = start_operator(
            stack, logs / f"club-operator-{count}.log", namespaces=[namespace], **operator_settings
        )
        idle_rss = peak_rss_mib(operator.process.pid)
        before = api_writes(api)
        started = time.monotonic()
        for i in range(count):
            body = {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "Club",
                "metadata": {"name": f"club-{i:03d}"},
                "spec": {"displayName": f"Club {i}", **SPEC},
            }
            custom.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, body)
        done = wait(
            f"{count} Clubs Ready",
            lambda: sum(1 for c in list_clubs(custom, namespace) if _ready_since(c)) == count,
            timeout=900,
        )
        cpu = cpu_seconds(operator.process.pid)
        provisioning = api_writes(api) - before
        listed = list_clubs(custom, namespace)
        to_ready = [
            (_time(str(_ready_since(c))) - _time(c["metadata"]["creationTimestamp"])).total_seconds()
            for c in listed
        ]
        # Let the last status patches and rollouts settle, and every Club's first resync after Ready
        # run (it records the new credentials as propagated: one status write and one Event per
        # Club), before the quiet window. Counted apart.
        at_ready, marks = kopf_events(api, namespace), namespace_marks(api, namespace)
        time.sleep(float(operator_settings["resync_interval_sec"]) + 5)
        settling = changed(marks, namespace_marks(api, namespace))
        settling_events = kopf_events(api, namespace) - at_ready
        posted = kopf_events(api, namespace)
        quiet_from, marks = api_writes(api), namespace_marks(api, namespace)
        time.sleep(steady_sec)
        steady = api_writes(api) - quiet_from
        ours = changed(marks, namespace_marks(api, namespace))
        steady_events = kopf_events(api, namespace) - posted
        edits, queued = edit_latency(
            custom,
            namespace,
            [f"club-{i:03d}" for i in range(0, count, max(1, count // EDITS))],
            lambda: resyncs_waiting(operator.metrics_port),
        )
        rss = peak_rss_mib(operator.process.pid)
        reconciles = reconcile_figures(operator.metrics_port)
        deleting = time.monotonic()
        custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
        wait("the Clubs deleted", lambda: not list_clubs(custom, namespace), timeout=900)
        return Round(
            clubs=count,
            all_ready_sec=done - started,
            p50_sec=statistics.median(to_ready),
            p95_sec=percentile(to_ready, 0.95),
            provisioning_writes=provisioning,
            steady_writes=steady,
            steady_ours=ours,
            steady_sec=steady_sec,
            peak_rss_mib=rss,
            operator_cpu_sec=cpu,
            reconciles=reconciles,
            delete_sec=time.monotonic() - deleting,
            kopf_events=at_ready,
            settling=settling,
            idle_rss_mib=idle_rss,
            settling_events=settling_events,
            steady_events=steady_events,
            edit_latency=edits,
            edit_waiting=queued,
        )
    finally:
        if operator is not None:
            if list_clubs(custom, namespace):
                # Failed midway: give the finalizers a chance before the operator goes.
                custom.delete_collection_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL)
                with contextlib.suppress(TimeoutError):
                    wait("the Clubs deleted", lambda: not list_clubs(custom, namespace), timeout=300)
            operator.process.stop()
        core.delete_namespace(namespace, propagation_policy="Background")


def report(r: Round) -> None:
    count, mean, p95 = r.reconciles
    total = sum(r.provisioning_writes.values())
    goal = ""
    if r.clubs >= GOAL_READY_CLUBS:
        met = "met" if r.all_ready_sec < GOAL_READY_SEC else "NOT met"
        goal = f"   (goal: {GOAL_READY_CLUBS} in < {GOAL_READY_SEC:.0f} s: {met})"
    steady_total, steady_ours = sum(r.steady_writes.values()), sum(r.steady_ours.values())
    print(f"\n== {r.clubs} Clubs")
    print(f"  all Ready after          {r.all_ready_sec:7.1f} s{goal}")
    print(f"  time to Ready per Club   p50 {r.p50_sec:.0f} s, p95 {r.p95_sec:.0f} s (1 s resolution)")
    print(
        f"  operator peak RSS        {r.peak_rss_mib:7.1f} MiB ({r.idle_rss_mib:.1f} once started, no Club)"
    )
    print(
        f"  operator CPU until Ready {r.operator_cpu_sec:7.1f} s "
        f"({r.operator_cpu_sec / r.all_ready_sec:.0%} of one core; the stack shares the same cores)"
    )
    print(f"  reconciles               {count} (mean {mean * 1000:.0f} ms, p95 <= {p95} s)")
    events = sum(r.kopf_events.values())
    reasons = ", ".join(f"{k} {n}" for k, n in by_reason(r.kopf_events).most_common())
    print(
        f"  API writes per Club      {total / r.clubs:7.1f} all, "
        f"{ours_per_club(r):.1f} by the operator on the objects it manages"
        f" ({events / r.clubs:.1f} of them Events: {reasons})"
    )
    print(f"    by resource            {describe(r.provisioning_writes)}")
    settled = ", ".join(f"{k} {n}" for k, n in r.settling.items()) or "nothing"
    print(f"  after Ready, until the first resync   objects of the Clubs written: {settled}")
    for (reason, message), n in r.settling_events.most_common(2):
        print(f"    e.g. {n} x {reason}: {message[:200]}")
    met = "met" if steady_ours == 0 else "NOT met"
    print(
        f"  steady state, {r.steady_sec:.0f} s       {steady_ours} objects of the Clubs written"
        f"{' (' + ', '.join(f'{k} {n}' for k, n in r.steady_ours.items()) + ')' if steady_ours else ''}"
        f"   (goal: 0: {met})"
    )
    print(
        f"    API server, all clients {steady_total} writes ({operator_share(r.steady_writes)} on the"
        f" kinds the operator manages, anyone's): {describe(r.steady_writes)}"
    )
    if r.steady_events:
        for (reason, message), n in r.steady_events.most_common(3):
            print(f"    Events in the window   {n} x {reason}: {message[:300]}")
    print(
        f"  one Club edited          p50 {statistics.median(r.edit_latency):.2f} s,"
        f" p95 {percentile(r.edit_latency, 0.95):.2f} s until its status observed the edit"
        f" ({len(r.edit_latency)} edits, the others idle; resyncs waiting for a slot as they were"
        f" made: {_waiting(r)})"
    )
    print(f"  deleting all             {r.delete_sec:7.1f} s")


def _waiting(r: Round) -> str:
    known = [n for n in r.edit_waiting if not math.isnan(n)]
    return f"median {statistics.median(known):.0f}, most {max(known):.0f}" if known else "not reported"


def _most_waiting(r: Round) -> str:
    known = [n for n in r.edit_waiting if not math.isnan(n)]
    return f"{max(known):.0f}" if known else "-"


def ours_per_club(r: Round) -> float:
    """Writes on the kinds the operator manages, less the Events the control plane posted (Pods
    scheduled, ReplicaSets scaled): the operator's Events are counted from the namespace."""
    events = sum(
        n for (resource, sub, _), n in r.provisioning_writes.items() if resource == "events" and not sub
    )
    return (operator_share(r.provisioning_writes) - events + sum(r.kopf_events.values())) / r.clubs


def side_by_side(rounds: list[Round]) -> None:
    rows: list[tuple[str, Callable[[Round], str]]] = [
        ("all Ready (s)", lambda r: f"{r.all_ready_sec:.1f}"),
        ("operator peak RSS (MiB)", lambda r: f"{r.peak_rss_mib:.0f}"),
        ("  of which at start", lambda r: f"{r.idle_rss_mib:.0f}"),
        ("operator CPU per Club (ms)", lambda r: f"{r.operator_cpu_sec / r.clubs * 1000:.0f}"),
        ("operator writes per Club", lambda r: f"{ours_per_club(r):.1f}"),
        ("steady-state writes", lambda r: f"{sum(r.steady_ours.values())} in {r.steady_sec:.0f} s"),
        ("edited Club p95 (s)", lambda r: f"{percentile(r.edit_latency, 0.95):.2f}"),
        ("  resyncs waiting, most", _most_waiting),
        ("delete all (s)", lambda r: f"{r.delete_sec:.1f}"),
    ]
    print("\n== side by side")
    print(f"  {'Clubs':28}" + "".join(f"{r.clubs:>14}" for r in rounds))
    for label, cell in rows:
        print(f"  {label:28}" + "".join(f"{cell(r):>14}" for r in rounds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clubs", default="50,200", help="comma-separated round sizes (default: 50,200)")
    parser.add_argument("--steady-seconds", type=float, default=60.0)
    parser.add_argument("--logs", type=Path, help="keep the operator's logs in this folder")
    parser.add_argument(
        "--setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an operator setting (config.py, without the CLUB_OPERATOR_ prefix), e.g. max_workers=6",
    )
    args = parser.parse_args()
    counts = [int(n) for n in args.clubs.split(",")]
    settings = dict(item.split("=", 1) for item in args.setting)
    with stack_module.running() as stack, tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp:
        logs, kept = (args.logs, "") if args.logs else (Path(tmp), " (kept only during the run)")
        logs.mkdir(parents=True, exist_ok=True)
        api: k8s.ApiClient = k8s_config.new_client_from_config(config_file=str(stack.kube.kubeconfig))  # type: ignore[no-untyped-call]
        print(f"cores: {os.cpu_count()}; operator logs under {logs}{kept}")
        with bench_nodes(api, max(counts) * PODS_PER_CLUB):
            rounds = []
            for count in counts:
                rounds.append(run_round(stack, api, count, args.steady_seconds, logs, settings=settings))
                report(rounds[-1])
            if len(rounds) > 1:
                side_by_side(rounds)


if __name__ == "__main__":
    main()
