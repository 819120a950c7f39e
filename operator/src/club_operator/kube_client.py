"""The operator's connection to the Kubernetes API: one client for the process, the dynamic
client's resources, the error every call raises, and the raw GETs the watched copies stream."""

from __future__ import annotations

import copy
import functools
from typing import Any

from kubernetes import client, config, dynamic
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from club_operator.informers import Request


class KubeError(RuntimeError):
    """A Kubernetes API call failed; the message says what was being done."""


# Connections kept open to the API server: more than the reconciles that run at once, so that none
# of them opens (and the server accepts) a new TLS connection per request.
POOL_SIZE = 32


@functools.cache
def api_client() -> client.ApiClient:
    """One client for the process (thread-safe). In a pod: the service account; elsewhere:
    $KUBECONFIG or ~/.kube/config."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = POOL_SIZE
    return client.ApiClient(configuration)


@functools.cache
def watch_client() -> client.ApiClient:
    """The watched copies' own client: each watch holds a connection for minutes, which must not
    take one from the reconciles' pool."""
    configuration = copy.deepcopy(api_client().configuration)
    configuration.connection_pool_maxsize = 64
    return client.ApiClient(configuration)


@functools.cache
def dynamic_client() -> dynamic.DynamicClient:
    return dynamic.DynamicClient(api_client())  # type: ignore[no-untyped-call]


def resource(api_version: str, kind: str) -> Any:
    try:
        return dynamic_client().resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError as exc:
        raise KubeError(f"the API server does not serve {kind} ({api_version})") from exc


def watch_request(api: client.ApiClient) -> Request:
    """GETs through `api` whose body is left unread: a LIST, or a watch's stream of events."""

    def get(path: str, query: list[tuple[str, str]], read_timeout: float | None) -> Any:
        request = api.param_serialize(
            "GET",
            path,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        try:
            resp = api.call_api(*request, _request_timeout=(10, read_timeout)).response
        except ApiException as exc:
            raise KubeError(f"GET {path}: {exc.status} {exc.reason}") from exc
        if resp.status != 200:
            resp.drain_conn()
            resp.release_conn()
            raise KubeError(f"GET {path}: {resp.status} {resp.reason}")
        return resp

    return get
