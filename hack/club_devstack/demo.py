"""`make demo`: the local stack, the operator, every sample Club reconciled to Ready and a VideoJob
processed, shown live.

Starts PostgreSQL, Redis, MinIO, the registry and the Kubernetes control plane with its real node
and kwok's simulated GPU nodes; builds the runtime and operator images if the registry lacks them
(images.py, with progress); starts `club-operator` with the registry's runtime image as the
default; applies the Club samples of config/samples/ into the namespace `demo`, riverside-fc with
spec.runtime placing its pods on the real node (the others run on kwok's simulated nodes: the real
node has this machine's few cores); prints each Club's progress until all are Ready. Then uploads
a generated match video to riverside-fc's bucket, waits for its video worker pod on the real node,
applies the VideoJob sample (pointed at that video) and prints its phase and progress until it
Succeeded. Finally prints what was created and keeps everything up until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from club_devstack import images, sample_video
from club_devstack.operator import REPO, start_operator
from club_devstack.stack import Stack, StackInfo, wait_forever

NAMESPACE = "demo"
SAMPLES = REPO / "config" / "samples"


def _say(text: str) -> None:
    print(f"\033[1m==>\033[0m {text}", flush=True)


class Kubectl:
    def __init__(self, stack: StackInfo) -> None:
        self.base = [str(stack.kubectl), "--kubeconfig", str(stack.kube.kubeconfig)]

    def __call__(self, *args: str, stdin: str | None = None) -> str:
        done = subprocess.run([*self.base, *args], input=stdin, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {done.stderr.strip()}")
        return done.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self(*args, "-o", "json"))


def _club_samples() -> list[Path]:
    return sorted(p for p in SAMPLES.glob("club-*.yaml"))


def _server_secrets(kubectl: Kubectl, stack: StackInfo) -> None:
    """The full sample names its servers by Secret: point those at the stack's servers."""
    secrets = {
        "postgres-admin": {"dsn": stack.postgres.dsn()},
        "s3-admin": {
            "endpoint": stack.minio.endpoint,
            "accessKey": stack.minio.access_key,
            "secretKey": stack.minio.secret_key,
        },
    }
    for name, data in secrets.items():
        manifest = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": NAMESPACE},
            "stringData": data,
        }
        kubectl("apply", "-f", "-", stdin=json.dumps(manifest))


def _line(club: dict[str, Any]) -> str:
    status = club.get("status") or {}
    conds = {c["type"]: c for c in status.get("conditions") or []}
    marks = " ".join(f"{t}={c['status']}" for t, c in conds.items() if t != "Ready")
    waiting = [c for c in conds.values() if c["status"] != "True" and c["type"] != "Ready"]
    reason = f"  ({waiting[0]['reason']}: {waiting[0]['message']})" if waiting else ""
    return f"{club['metadata']['name']:<20} {status.get('phase', 'Pending'):<13} {marks}{reason}"


def _watch_until_ready(kubectl: Kubectl, names: list[str], timeout: float = 600) -> bool:
    shown: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        items = {c["metadata"]["name"]: c for c in kubectl.json("get", "clubs", "-n", NAMESPACE)["items"]}
        for name in names:
            line = _line(items[name]) if name in items else f"{name:<20} (not created yet)"
            if shown.get(name) != line:
                print(f"  {time.strftime('%H:%M:%S')}  {line}", flush=True)
                shown[name] = line
        if all((items.get(n, {}).get("status") or {}).get("phase") == "Ready" for n in names):
            return True
        time.sleep(1)
    return False


def _pods_not_ready(kubectl: Kubectl) -> None:
    """What a person would look at when a Club is not Ready: its pods, and why those not Ready are not."""
    print(kubectl("get", "pods", "-n", NAMESPACE, "-o", "wide"), flush=True)
    for pod in kubectl.json("get", "pods", "-n", NAMESPACE)["items"]:
        statuses = (pod.get("status") or {}).get("containerStatuses") or []
        if statuses and all(s.get("ready") for s in statuses):
            continue
        name = pod["metadata"]["name"]
        print(f"--- {name}: {json.dumps(statuses or pod.get('status', {}).get('conditions'))}", flush=True)
        if statuses and pod["spec"].get("nodeName", "").startswith("real"):
            logs = subprocess.run(
                [*kubectl.base, "logs", "-n", NAMESPACE, name, "--tail=20", "--all-containers"],
                capture_output=True,
                text=True,
                check=False,
            )
            print(logs.stdout + logs.stderr, flush=True)


VIDEO_CLUB = "riverside-fc"
VIDEO_KEY = "uploads/demo-match.mp4"
VIDEO_SECONDS = 20


def _s3(stack: StackInfo) -> Any:
    return stack.minio.client()


def _videojob_manifest(kubectl: Kubectl) -> dict[str, Any]:
    """The VideoJob sample, pointed at the generated video, with clips inside its 20 seconds."""
    sample = SAMPLES / "videojob.yaml"
    manifest: dict[str, Any] = json.loads(
        kubectl("create", "--dry-run=client", "-f", str(sample), "-o", "json")
    )
    manifest["metadata"] = {"name": "riverside-fc-demo-match", "namespace": NAMESPACE}
    manifest["spec"]["source"]["key"] = VIDEO_KEY
    manifest["spec"]["outputs"]["thumbnailIntervalSeconds"] = 5
    manifest["spec"]["outputs"]["clips"] = [
        {"name": "opening-goal", "start": 3, "end": 8},
        {"name": "penalty-save", "start": 12, "end": 16.5},
    ]
    return manifest


def _on_the_real_node(stack: StackInfo) -> dict[str, Any]:
    """spec.runtime that places a Club's pods on the stack's real node (the others stay on kwok's
    simulated nodes: the real node has the machine's few cores, and the pods' CPU requests must fit)."""
    if stack.node is None:
        raise RuntimeError("the stack runs no real node")
    taint = stack.node.taint
    return {
        "nodeSelector": dict(stack.node.labels),
        "tolerations": [
            {"key": taint["key"], "operator": "Equal", "value": taint["value"], "effect": taint["effect"]}
        ],
    }


def _video_worker_ready(kubectl: Kubectl, timeout: float = 300) -> dict[str, Any] | None:
    """The club's video worker pod once it is Ready (on the real node), or None."""
    selector = f"footballclub.io/club={VIDEO_CLUB},app.kubernetes.io/component=worker-video"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for pod in kubectl.json("get", "pods", "-n", NAMESPACE, "-l", selector)["items"]:
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            if statuses and all(s.get("ready") for s in statuses):
                found: dict[str, Any] = pod
                return found
        time.sleep(1)
    return None


def _process_a_video(kubectl: Kubectl, stack: Stack, timeout: float = 600) -> bool:
    """Upload a video, submit a VideoJob and follow it to the end: the club's video worker pod on
    the real node processes it."""
    info = stack.info
    bucket = kubectl.json("get", "club", VIDEO_CLUB, "-n", NAMESPACE)["status"]["bucket"]
    source = stack.root / "demo-match.mp4"
    _say(
        f"Generating a {VIDEO_SECONDS} s 720p test video with ffmpeg; uploading it to s3://{bucket}/{VIDEO_KEY}"
    )
    sample_video.generate(source, VIDEO_SECONDS)
    _s3(info).upload_file(str(source), bucket, VIDEO_KEY)
    _say(f"Waiting for a pod of {VIDEO_CLUB}-worker-video to be Ready")
    worker = _video_worker_ready(kubectl)
    if worker is None:
        _say(f"No video worker pod of {VIDEO_CLUB} became Ready")
        print(kubectl("get", "pods", "-n", NAMESPACE, "-o", "wide"), flush=True)
        return False
    print(f"  {worker['metadata']['name']} on node {worker['spec']['nodeName']}", flush=True)
    manifest = _videojob_manifest(kubectl)
    name = manifest["metadata"]["name"]
    _say(
        f"kubectl apply -n {NAMESPACE} -f config/samples/videojob.yaml (source {VIDEO_KEY}, clips within it)"
    )
    print("  " + kubectl("apply", "-f", "-", stdin=json.dumps(manifest)).strip(), flush=True)
    shown = ""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = kubectl.json("get", "videojob", name, "-n", NAMESPACE).get("status") or {}
        line = f"{status.get('phase', '-'):<10} {status.get('progress', 0):>3}%  {status.get('message', '')}"
        if line != shown:
            print(f"  {time.strftime('%H:%M:%S')}  {name}  {line}", flush=True)
            shown = line
        if status.get("phase") in ("Succeeded", "Failed"):
            break
        time.sleep(0.5)
    _say(f"kubectl get videojobs -n {NAMESPACE} -o wide")
    print(kubectl("get", "videojobs", "-n", NAMESPACE, "-o", "wide"), flush=True)
    outputs = status.get("outputs") or {}
    if outputs:
        print(f"  master playlist  {outputs.get('masterPlaylist')}")
        for rendition in outputs.get("renditions") or []:
            print(f"  {rendition['name']:<16} {rendition['playlist']}")
        print(
            f"  thumbnails       {len(outputs.get('thumbnails') or [])} under {outputs['prefix']}/thumbnails/"
        )
        for clip in outputs.get("clips") or []:
            print(f"  clip {clip['name']:<11} {clip['key']}")
    return status.get("phase") == "Succeeded"


def _summary(kubectl: Kubectl, stack: StackInfo) -> None:
    _say("kubectl get clubs -n demo -o wide")
    print(kubectl("get", "clubs", "-n", NAMESPACE, "-o", "wide"), flush=True)
    for club in kubectl.json("get", "clubs", "-n", NAMESPACE)["items"]:
        status = club.get("status") or {}
        print(
            f"{club['metadata']['name']}: database {status.get('databaseName')}, role "
            f"{status.get('databaseRole')}, bucket {status.get('bucket')}, tenant {status.get('tenantId')}"
        )
        for cond in status.get("conditions") or []:
            print(f"    {cond['type']:<24} {cond['status']:<6} {cond['reason']}: {cond['message']}")
    _say("Secrets the operator created (values never shown)")
    print(
        kubectl("get", "secrets", "-n", NAMESPACE, "-l", "app.kubernetes.io/managed-by=club-operator"),
        flush=True,
    )
    _say("PostgreSQL roles of the clubs (no superuser, no BYPASSRLS)")
    with psycopg.connect(stack.postgres.dsn()) as conn:
        for row in conn.execute(
            "SELECT rolname, rolsuper, rolbypassrls FROM pg_roles WHERE rolname LIKE 'club\\_%' ORDER BY 1"
        ):
            print(f"  {row[0]:<40} superuser={row[1]} bypassrls={row[2]}")
    _say("MinIO buckets")
    for bucket in _s3(stack).list_buckets()["Buckets"]:
        print(f"  {bucket['Name']}")
    _say("Recent Events")
    print(kubectl("get", "events", "-n", NAMESPACE, "--sort-by=.lastTimestamp"), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__)
    parser.add_argument("--no-wait", action="store_true", help="stop after the summary instead of waiting")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    _say(
        "Starting the local stack (PostgreSQL, Redis, MinIO, a registry, Kubernetes with a real node"
        " and kwok's GPU nodes)"
    )
    try:
        # Two GPU nodes: the full and the GPU samples each run a GPU video worker.
        with Stack.start(gpu_nodes=2, node=True) as stack:
            kubectl = Kubectl(stack.info)
            _say("The runtime and operator images, in the stack's registry")
            built = images.ensure_images(stack.info, progress=lambda line: print(f"  {line}", flush=True))
            _say(
                "Starting club-operator (CRDs applied from crds/), the Clubs' pods on the real node"
                f" running {built.runtime}"
            )
            log = stack.root / "logs" / "club-operator.log"
            operator = start_operator(
                stack.info, log, resync_interval_sec="30", default_runtime_image=built.runtime
            )
            stack.procs.append(operator.process)
            metrics_port = operator.metrics_port
            kubectl("create", "namespace", NAMESPACE)
            _server_secrets(kubectl, stack.info)
            names = []
            for sample in _club_samples():
                manifest = json.loads(kubectl("create", "--dry-run=client", "-f", str(sample), "-o", "json"))
                name = manifest["metadata"]["name"]
                names.append(name)
                if name != VIDEO_CLUB:
                    _say(f"kubectl apply -n {NAMESPACE} -f {sample.relative_to(REPO)}")
                    print("  " + kubectl("apply", "-n", NAMESPACE, "-f", str(sample)).strip(), flush=True)
                    continue
                _say(
                    f"kubectl apply -n {NAMESPACE} -f {sample.relative_to(REPO)}, with"
                    " spec.runtime.nodeSelector and tolerations that put its pods on the real node"
                )
                manifest["metadata"]["namespace"] = NAMESPACE
                manifest["spec"]["runtime"] = _on_the_real_node(stack.info)
                print("  " + kubectl("apply", "-n", NAMESPACE, "-f", "-", stdin=json.dumps(manifest)).strip())
            _say("Waiting for every Club to be Ready (live progress)")
            if not _watch_until_ready(kubectl, names):
                _say(f"Not every Club became Ready; see {log}")
                _pods_not_ready(kubectl)
                return 1
            if not _process_a_video(kubectl, stack):
                _say(f"The VideoJob did not succeed; see {log} and {stack.root / 'logs'}")
                return 1
            _summary(kubectl, stack.info)
            _say("Everything is up")
            print(stack.info.describe())
            print(f"operator    log {log}, metrics http://127.0.0.1:{metrics_port}/metrics")
            print(
                f"\nTry: KUBECONFIG={stack.info.kube.kubeconfig} {stack.info.kubectl}"
                " get clubs,vj,pods -A -o wide"
            )
            if args.no_wait:
                return 0
            print("Ctrl-C stops everything.", flush=True)
            wait_forever(stack)
    except KeyboardInterrupt:
        _say("Stopping")
    return 0


if __name__ == "__main__":
    sys.exit(main())
