"""`club-operator`: run the operator against the cluster of $KUBECONFIG (or in-cluster credentials).

club-operator                      every namespace
club-operator -n team-a -n team-b  only these namespaces
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
    from club_operator import health, kube_cache
    from club_operator import main as handlers  # noqa: F401 - registers the handlers

    health.scope(args.namespace)
    kube_cache.watch_scope(args.namespace)

    asyncio.run(
        kopf.operator(
            clusterwide=not args.namespace,
            namespaces=args.namespace,
            standalone=True,
            liveness_endpoint=args.liveness or None,
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
