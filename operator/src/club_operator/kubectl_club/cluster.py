"""The plugin's one connection to the API server: kubectl's flags (--kubeconfig, --context,
-n/--namespace) resolved as kubectl resolves them, and every call it makes, each translated into a
one-line `PluginError` (no such object, no permission, no CRD, cluster unreachable)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from club_operator import naming
from club_operator.kubectl_club import errors
from club_operator.kubectl_club.errors import PluginError

TIMEOUT = (5.0, 30.0)  # connect, read: a person waits at the terminal
BUSY_RETRIES, BUSY_SEC = 5, 1.0
MERGE_PATCH = "application/merge-patch+json"
PLURALS = {
    "Club": "clubs",
    "ClubBackup": "clubbackups",
    "ClubRestore": "clubrestores",
    "VideoJob": "videojobs",
}


@dataclass(frozen=True)
class Target:
    """kubectl's own flags: which kubeconfig, context and namespace."""

    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def _context_namespace(target: Target) -> str:
    try:
        contexts, active = config.list_kube_config_contexts(config_file=target.kubeconfig)  # type: ignore[no-untyped-call]
    except (config.ConfigException, OSError):
        return "default"
    chosen = active
    if target.context:
        chosen = next((c for c in contexts if c.get("name") == target.context), active)
    return str(((chosen or {}).get("context") or {}).get("namespace") or "default")


class Cluster:
    """One API server, as the kubeconfig names it."""

    def __init__(self, target: Target) -> None:
        configuration = client.Configuration()
        try:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=target.kubeconfig, context=target.context, client_configuration=configuration
            )
        except (config.ConfigException, OSError, ValueError) as exc:
            where = f" {target.kubeconfig}" if target.kubeconfig else ""
            raise PluginError(f"cannot load the kubeconfig{where}: {errors.one_line(str(exc))}") from exc
        configuration.retries = 0  # an unreachable cluster is reported at once, not after retries
        self.host: str = configuration.host
        self.namespace = target.namespace or _context_namespace(target)
        self.api = client.ApiClient(configuration)
        self.custom = client.CustomObjectsApi(self.api)
        self.core = client.CoreV1Api(self.api)

    def call(self, doing: str, plural: str, fn: Callable[[], Any], *, missing: str | None = None) -> Any:
        """Run one API call; any failure becomes a PluginError saying what was being done (`missing`:
        the whole message when the object does not exist). A server that asks to come back shortly
        (429, as right after a CRD is created) is asked again a few times."""
        for attempt in range(BUSY_RETRIES + 1):
            try:
                return fn()
            except ApiException as exc:
                if exc.status == 429 and attempt < BUSY_RETRIES:
                    time.sleep(BUSY_SEC)
                    continue
                custom = plural in PLURALS.values()
                kind = f"{plural}.{naming.GROUP}" if custom else plural
                refused = errors.refusal(exc.status or 0, exc.body, doing, kind, custom=custom)
                if missing and exc.status == 404 and not isinstance(refused, errors.NotServed):
                    refused = PluginError(missing)
                raise refused from exc
            except (urllib3.exceptions.HTTPError, OSError) as exc:
                raise errors.unreachable(self.host, exc) from exc
        raise AssertionError("unreachable")  # the loop returns or raises

    # --- the operator's custom objects -------------------------------------------------------------

    def get(self, kind: str, name: str, namespace: str | None = None) -> dict[str, Any]:
        ns = namespace or self.namespace
        plural = PLURALS[kind]
        found: dict[str, Any] = self.call(
            f'reading {kind} "{name}" in namespace "{ns}"',
            plural,
            lambda: self.custom.get_namespaced_custom_object(
                naming.GROUP, naming.VERSION, ns, plural, name, _request_timeout=TIMEOUT
            ),
            missing=f'{kind} "{name}" not found in namespace "{ns}"',
        )
        return found

    def list_objects(self, kind: str, *, all_namespaces: bool = False) -> list[dict[str, Any]]:
        plural = PLURALS[kind]
        where = "every namespace" if all_namespaces else f'namespace "{self.namespace}"'
        extra: dict[str, Any] = {"_request_timeout": TIMEOUT}
        if all_namespaces:
            listed = self.call(
                f"listing {plural} in {where}",
                plural,
                lambda: self.custom.list_cluster_custom_object(naming.GROUP, naming.VERSION, plural, **extra),
            )
        else:
            listed = self.call(
                f"listing {plural} in {where}",
                plural,
                lambda: self.custom.list_namespaced_custom_object(
                    naming.GROUP, naming.VERSION, self.namespace, plural, **extra
                ),
            )
        return list(listed.get("items") or [])

    def create(self, body: dict[str, Any]) -> dict[str, Any]:
        kind, name = body["kind"], body["metadata"]["name"]
        plural = PLURALS[kind]
        created: dict[str, Any] = self.call(
            f'creating {kind} "{name}" in namespace "{self.namespace}"',
            plural,
            lambda: self.custom.create_namespaced_custom_object(
                naming.GROUP, naming.VERSION, self.namespace, plural, body, _request_timeout=TIMEOUT
            ),
        )
        return created

    def patch(self, kind: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (custom resources take no strategic merge patch)."""
        plural = PLURALS[kind]
        patched: dict[str, Any] = self.call(
            f'patching {kind} "{name}" in namespace "{self.namespace}"',
            plural,
            lambda: self.custom.patch_namespaced_custom_object(
                naming.GROUP,
                naming.VERSION,
                self.namespace,
                plural,
                name,
                body,
                _content_type=MERGE_PATCH,
                _request_timeout=TIMEOUT,
            ),
        )
        return patched

    # --- core objects --------------------------------------------------------------------------------

    def warning_events(self, all_namespaces: bool = False) -> list[Any]:
        doing = "listing Warning events"
        if all_namespaces:
            listed = self.call(
                doing,
                "events",
                lambda: self.core.list_event_for_all_namespaces(
                    field_selector="type=Warning", _request_timeout=TIMEOUT
                ),
            )
        else:
            listed = self.call(
                doing,
                "events",
                lambda: self.core.list_namespaced_event(
                    self.namespace, field_selector="type=Warning", _request_timeout=TIMEOUT
                ),
            )
        return list(listed.items or [])

    def secret(self, name: str) -> dict[str, str]:
        """A Secret's data, base64 as the API server sends it."""
        found = self.call(
            f'reading Secret "{name}" in namespace "{self.namespace}"',
            "secrets",
            lambda: self.core.read_namespaced_secret(name, self.namespace, _request_timeout=TIMEOUT),
        )
        data: dict[str, str] = dict(found.data or {})
        return data

    def pods(self, selector: str) -> list[Any]:
        listed = self.call(
            f'listing pods ({selector}) in namespace "{self.namespace}"',
            "pods",
            lambda: self.core.list_namespaced_pod(
                self.namespace, label_selector=selector, _request_timeout=TIMEOUT
            ),
        )
        return sorted(listed.items or [], key=lambda p: str(p.metadata.name if p.metadata else ""))

    def pod_log(self, pod: str, *, tail: int | None) -> str:
        extra: dict[str, Any] = {"_request_timeout": TIMEOUT}
        if tail is not None:
            extra["tail_lines"] = tail
        text: str = self.call(
            f'reading the log of pod "{pod}"',
            "pods/log",
            lambda: self.core.read_namespaced_pod_log(pod, self.namespace, **extra),
        )
        return text

    def follow_log(self, pod: str, *, tail: int | None) -> Iterator[str]:
        """The pod's log lines as they are written, until the container stops or the stream ends (no
        read timeout: a quiet pod keeps its stream open)."""
        extra: dict[str, Any] = {"follow": True, "_preload_content": False}
        if tail is not None:
            extra["tail_lines"] = tail
        response = self.call(
            f'following the log of pod "{pod}"',
            "pods/log",
            lambda: self.core.read_namespaced_pod_log(pod, self.namespace, **extra),
        )
        try:
            buffered = b""
            for chunk in response.stream(4096):
                buffered += chunk
                *lines, buffered = buffered.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace")
            if buffered:
                yield buffered.decode(errors="replace")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise errors.unreachable(self.host, exc) from exc
        finally:
            response.release_conn()
