"""Leader election: of the operator's replicas, only the one holding a coordination.k8s.io/v1 Lease
runs kopf (handlers, timers, daemons, the watched copies, the health loop); the others stand by.

Run by `club-operator` (__main__.py) when CLUB_OPERATOR_LEADER_ELECTION is true, before kopf starts:
`wait_for_lease` blocks while another replica holds the Lease, serving the liveness endpoint (a
standby is alive: the kubelet must not restart it) and the metrics (club_operator_leader 0). Once
the replica holds the Lease, a thread renews it every few seconds (`Holder`); a holder that cannot
renew before the renew deadline (lease_timing.py) exits at once, without finishing its handlers,
since another replica may take over soon after. In a pod the identity is the pod's name: the
kubelet restarts the container, which takes the Lease back at once if nobody took it meanwhile (no
other process can be that pod: the old one is gone) and stands by otherwise. On a
graceful stop (SIGTERM: a rolling upgrade, a drain) kopf finishes, then the Lease is released so a
standby takes it on its next try instead of waiting for it to expire.

Why a Lease of our own rather than kopf's peering: peering is made for different operators, not
for replicas of one. Peers of the same priority all pause (the replicas of a Deployment share one,
unless each is given its own), a dead peer is noticed once its lifetime (60 s by default) has passed
by comparing the time it wrote with the reader's wall clock, and it needs a CRD of its own
(KopfPeering) with RBAC for it. The Lease is what client-go's controllers use: a standby runs
nothing of kopf, a takeover is bounded by the lease's duration and a retry interval on each
replica's own monotonic clock, a graceful stop releases it, and its holder is visible to anyone
(`kubectl get lease`).

The Lease is read and written here, not through kube.py: these calls come before kopf and the
operator's clients' caches start, each with a short timeout of its own so that a renewal never
waits past its deadline."""

from __future__ import annotations

import datetime
import http.server
import json
import logging
import os
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable

import prometheus_client
import urllib3
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from club_operator import kube_client, lease_timing, metrics
from club_operator.config import OperatorSettings
from club_operator.lease_timing import Action, Observation, Record, Timing

log = logging.getLogger(__name__)

# The exit status of a holder that lost its Lease (the kubelet restarts it; it then stands by).
LOST_EXIT_CODE = 75

_served_metrics: set[int] = set()


def serve_metrics(port: int) -> None:
    """Serve the Prometheus metrics on `port` (0: none), once per process: a standby serves them
    before kopf's startup handler would."""
    if port and port not in _served_metrics:
        prometheus_client.start_http_server(port, addr="0.0.0.0")  # noqa: S104 - scraped in-cluster
        _served_metrics.add(port)


class LeaseError(RuntimeError):
    """The Lease could not be read or written; the message names it and the server's answer."""


class Lease:
    """The operator's Lease on the API server, as `identity` sees it."""

    def __init__(self, settings: OperatorSettings) -> None:
        if not settings.leader_lease_namespace:
            raise ValueError(
                "leader election needs the Lease's namespace (CLUB_OPERATOR_LEADER_LEASE_NAMESPACE)"
            )
        self.namespace, self.name = settings.leader_lease_namespace, settings.leader_lease_name
        self.identity = settings.leader_identity
        self.timing = Timing(
            lease_duration_sec=settings.leader_lease_duration_sec,
            renew_interval_sec=settings.leader_renew_interval_sec,
            retry_interval_sec=settings.leader_retry_interval_sec,
        )
        self.seen: Observation | None = None
        self._acquired: datetime.datetime | None = None
        # When the last successful write started (monotonic): the holder's renew deadline runs from it.
        self.renewed_at = 0.0
        self._api = client.CoordinationV1Api(kube_client.api_client())

    def __str__(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    def try_hold(self) -> bool:
        """One round: read the Lease, then create, take or renew it when `decide` says so. True
        when this replica holds it afterwards."""
        now = time.monotonic()
        current = self._read()
        if current is not None:
            self.seen = lease_timing.observe(self.seen, current, now)
        action = lease_timing.decide(None if current is None else self.seen, self.identity, now)
        if action is Action.WAIT:
            return False
        transitions = 0 if current is None else lease_timing.transitions_after(current, self.identity)
        acquired = None if current is not None and action is Action.RENEW else _now()
        written = self._write(current, self.identity, transitions, acquired)
        if written is not None:
            self.seen, self.renewed_at = Observation(written, now), now
        return written is not None

    def release(self) -> None:
        """Give the Lease up (holder cleared, a duration of 1 s), if this replica still holds it."""
        current = self._read()
        if current is None or current.holder != self.identity:
            return
        if self._write(current, "", current.transitions, None, duration=1) is not None:
            log.info("released %s", self)

    def _read(self) -> Record | None:
        try:
            lease = self._api.read_namespaced_lease(
                self.name, self.namespace, _request_timeout=self.timing.retry_interval_sec
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise LeaseError(f"reading {self}: {exc.status} {exc.reason}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise LeaseError(f"reading {self}: {exc}") from exc
        self._acquired = None if lease.spec is None else lease.spec.acquire_time
        return _record(lease)

    def _write(
        self,
        current: Record | None,
        holder: str,
        transitions: int,
        acquired: datetime.datetime | None,
        *,
        duration: int | None = None,
    ) -> Record | None:
        """Create the Lease, or replace the version of it read last (a replica that wrote in
        between wins: this one returns None). A renewal keeps the acquireTime read."""
        spec = client.V1LeaseSpec(
            holder_identity=holder or None,
            lease_duration_seconds=duration or round(self.timing.lease_duration_sec),
            lease_transitions=transitions,
            renew_time=_now(),
            acquire_time=acquired or (self._acquired if holder else None),
        )
        meta = client.V1ObjectMeta(
            name=self.name,
            namespace=self.namespace,
            resource_version=None if current is None else current.version,
        )
        body = client.V1Lease(metadata=meta, spec=spec)
        timeout = self.timing.retry_interval_sec
        try:
            if current is None:
                written = self._api.create_namespaced_lease(self.namespace, body, _request_timeout=timeout)
            else:
                written = self._api.replace_namespaced_lease(
                    self.name, self.namespace, body, _request_timeout=timeout
                )
        except ApiException as exc:
            if exc.status == 409:
                return None  # another replica created or changed it first
            raise LeaseError(f"writing {self}: {exc.status} {exc.reason}") from exc
        except urllib3.exceptions.HTTPError as exc:
            raise LeaseError(f"writing {self}: {exc}") from exc
        return _record(written)


class Holder:
    """Keeps the Lease while kopf runs: a thread renews it; past the renew deadline, or when another
    replica is seen holding it, `lost` is called (by default: log and exit the process at once)."""

    def __init__(self, lease: Lease, lost: Callable[[str], None] | None = None) -> None:
        self.lease = lease
        self._lost = lost or _exit_lost
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="club-lease", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop_and_release(self) -> None:
        """Stop renewing and release the Lease (a graceful stop: kopf has finished)."""
        self._stop.set()
        self._thread.join(timeout=self.lease.timing.renew_interval_sec * 2)
        try:
            self.lease.release()
        except (LeaseError, OSError) as exc:
            log.warning("could not release %s (a standby takes it once it expires): %s", self.lease, exc)
        metrics.LEADER.set(0)

    def _loop(self) -> None:
        timing = self.lease.timing
        wait = timing.renew_interval_sec
        while not self._stop.wait(max(0.0, min(wait, self._until_deadline()))):
            started = time.monotonic()
            if lease_timing.must_step_down(self.lease.renewed_at, started, timing):
                self._lost(f"{self.lease} not renewed for {started - self.lease.renewed_at:.1f}s")
                return
            try:
                held = self.lease.try_hold()
            except Exception as exc:  # any failure is a missed renewal: the deadline decides
                log.warning("renewing %s failed, retrying: %s", self.lease, exc)
                wait = timing.retry_interval_sec
                continue
            if not held:
                self._lost(f"another replica wrote {self.lease}")
                return
            wait = timing.renew_interval_sec

    def _until_deadline(self) -> float:
        timing = self.lease.timing
        return self.lease.renewed_at + timing.renew_deadline_sec - time.monotonic()


def _exit_lost(why: str) -> None:
    """Stop at once: another replica may take over soon, and two must never run the handlers."""
    log.critical("lost the operator's lease (%s): exiting so that only one replica runs", why)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(LOST_EXIT_CODE)


def wait_for_lease(lease: Lease, liveness_url: str | None) -> None:
    """Block until this replica holds the Lease, standing by meanwhile: the liveness endpoint
    answers (kopf's takes the port over afterwards) and club_operator_leader reads 0."""
    metrics.LEADER.set(0)
    probe = _standby_probe(liveness_url, lease) if liveness_url else None
    announced = ""
    try:
        while True:
            try:
                if lease.try_hold():
                    break
            except (LeaseError, OSError) as exc:
                log.warning("trying %s failed, retrying: %s", lease, exc)
            holder = lease.seen.record.holder if lease.seen else ""
            if holder != announced:
                log.info("standing by: %s is held by %s", lease, holder or "nobody")
                announced = holder
            time.sleep(lease.timing.retry_interval_sec)
    finally:
        if probe is not None:
            probe.shutdown()
            probe.server_close()
    metrics.LEADER.set(1)
    log.info("holding %s as %s: starting the operator", lease, lease.identity)


def _standby_probe(liveness_url: str, lease: Lease) -> http.server.HTTPServer:
    """An HTTP server answering 200 on the liveness endpoint's address while standing by."""
    url = urllib.parse.urlsplit(liveness_url)

    class Probe(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"standby": True, "lease": str(lease), "identity": lease.identity}).encode()
            self.send_response(200 if self.path.split("?")[0] == (url.path or "/") else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_: object) -> None:
            """Probes every few seconds: not worth a log line each."""

    server = http.server.ThreadingHTTPServer((url.hostname or "0.0.0.0", url.port or 80), Probe)  # noqa: S104
    threading.Thread(target=server.serve_forever, name="club-standby-probe", daemon=True).start()
    return server


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _record(lease: client.V1Lease) -> Record:
    spec = lease.spec or client.V1LeaseSpec()
    renewed = spec.renew_time
    return Record(
        holder=spec.holder_identity or "",
        duration_sec=float(spec.lease_duration_seconds or 0),
        renew_time="" if renewed is None else renewed.isoformat(),
        transitions=spec.lease_transitions or 0,
        version=(lease.metadata.resource_version if lease.metadata else None) or "",
    )
