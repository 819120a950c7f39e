"""`club-operator`: run the operator against the cluster of $KUBECONFIG (or in-cluster credentials).

club-operator                      every namespace
club-operator -n team-a -n team-b  only these namespaces

With CLUB_OPERATOR_LEADER_ELECTION=true, replicas share a Lease and only its holder runs (leader.py).
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import kopf


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="club-operator", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "-n",
        "--namespace",
        action="append",
        default=[],
        help="watch this namespace (repeatable); default: all namespaces",
    )
    parser.add_argument(
        "--liveness", default="http://0.0.0.0:8081/healthz", help="liveness endpoint URL, or '' for none"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    kopf.configure(verbose=args.verbose, debug=args.debug)
    from club_operator import health, kube_cache, leader, metrics
    from club_operator import main as handlers  # noqa: F401 - registers the handlers
    from club_operator.config import get_settings

    health.scope(args.namespace)
    kube_cache.watch_scope(args.namespace)

    settings = get_settings()
    holder = None
    if settings.leader_election:
        lease = leader.Lease(settings)
        leader.serve_metrics(settings.metrics_port)  # a standby is scraped too
        leader.wait_for_lease(lease, args.liveness or None)
        holder = leader.Holder(lease)
        holder.start()
    metrics.LEADER.set(1)
    try:
        asyncio.run(
            kopf.operator(
                clusterwide=not args.namespace,
                namespaces=args.namespace,
                standalone=True,
                liveness_endpoint=args.liveness or None,
            )
        )
    finally:
        if holder is not None:
            holder.stop_and_release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
