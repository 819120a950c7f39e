"""NetworkPolicies: what may connect to the club's pods, and what they may connect to.

Ingress:
- API pods accept connections on the API port only, from any source: clients reach the API through
  its Service or an ingress controller (which may run on the host network or outside the cluster),
  so restricting the source would break them. Prometheus scrapes /metrics on the same port.
- Worker pods accept connections on their metrics port only (Prometheus); nothing else calls them.

Egress, the same for both: DNS (port 53, UDP and TCP, to any address: the resolver may be
kube-dns, a node-local cache or the host's), and the club's PostgreSQL, Redis and S3 servers
(`WorkloadInputs.servers`), each on its port. A server named by IP address is allowed at that
address only (an ipBlock /32 or /128); one named by hostname is allowed on its port at any
address, since a name may resolve to anything and a NetworkPolicy cannot name hosts. Anything else
(the internet, other clubs' pods, the cloud's metadata endpoint) is refused, so a compromised
worker cannot ship a club's data anywhere but to the club's own servers.

An IP address in a DSN or URL must be the server's own: a Service's ClusterIP is translated to a
pod's address before most network plugins apply the policy, so name an in-cluster server by its
Service's DNS name instead."""

from __future__ import annotations

from typing import Any

from club_operator import naming
from club_operator.builders.inputs import API, WORKER_COMPONENTS, WORKERS, Destination, WorkloadInputs

DNS_PORT = 53


def _server_rule(server: Destination) -> dict[str, Any]:
    rule: dict[str, Any] = {"ports": [{"protocol": "TCP", "port": server.port}]}
    network = server.network
    if network is not None:
        rule = {"to": [{"ipBlock": {"cidr": network}}], **rule}
    return rule


def egress_rules(inputs: WorkloadInputs) -> list[dict[str, Any]]:
    """DNS, then each server once, in the order the inputs give them."""
    rules: list[dict[str, Any]] = [
        {"ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}]}
    ]
    for server in inputs.servers:
        rule = _server_rule(server)
        if rule not in rules:
            rules.append(rule)
    return rules


def _policy(
    inputs: WorkloadInputs, name: str, component: str, selector: dict[str, Any], port: int
) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": inputs.metadata(name, component),
        "spec": {
            "podSelector": selector,
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [{"ports": [{"protocol": "TCP", "port": port}]}],
            "egress": egress_rules(inputs),
        },
    }


def build_api_network_policy(inputs: WorkloadInputs) -> dict[str, Any]:
    selector = {"matchLabels": inputs.names.selector(API)}
    return _policy(inputs, inputs.names.api, API, selector, inputs.api_port)


def build_worker_network_policy(inputs: WorkloadInputs) -> dict[str, Any]:
    """One policy for both worker pools (selected by component)."""
    names = inputs.names
    selector = {
        "matchLabels": {naming.NAME_LABEL: naming.APP_NAME, naming.CLUB_LABEL: names.name},
        "matchExpressions": [
            {"key": naming.COMPONENT_LABEL, "operator": "In", "values": list(WORKER_COMPONENTS)}
        ],
    }
    return _policy(inputs, names.workers_network_policy, WORKERS, selector, inputs.worker_metrics_port)
