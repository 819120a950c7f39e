"""`logs CLUB [--component] [-f]`: the logs of the Club's pods of one component, read through the API
server (pods/log), each line prefixed with its pod when there are several. A pod whose log cannot be
read is reported on stderr and the others are still shown; the exit status is then 1."""

from __future__ import annotations

import queue
import sys
import threading
from typing import Any

from club_operator import naming
from club_operator.builders import inputs
from club_operator.kubectl_club.context import Context
from club_operator.kubectl_club.errors import PluginError

COMPONENTS = (inputs.API, *inputs.WORKER_COMPONENTS)
MAX_FOLLOWED = 10  # pods followed at once, like kubectl's --max-log-requests


def selector(club: str, component: str) -> str:
    labels = {naming.NAME_LABEL: naming.APP_NAME, naming.COMPONENT_LABEL: component, naming.CLUB_LABEL: club}
    return ",".join(f"{k}={v}" for k, v in labels.items())


def run(ctx: Context) -> int:
    club = ctx.cluster.get("Club", ctx.args.club)["metadata"]["name"]
    pods = [p.metadata.name for p in ctx.cluster.pods(selector(club, ctx.args.component))]
    if not pods:
        raise PluginError(
            f'Club "{club}" has no {ctx.args.component} pods (suspended, or not rolled out yet?)'
        )
    prefix = len(pods) > 1
    if not ctx.args.follow:
        failed = 0
        for pod in pods:
            try:
                text = ctx.cluster.pod_log(pod, tail=ctx.args.tail)
            except PluginError as exc:
                # One pod without a log (not started, or on a node that keeps none) does not hide
                # the others'; the exit status still says that something was missing.
                print(f"error: {exc}", file=sys.stderr)
                failed += 1
                continue
            for line in text.splitlines():
                ctx.say(f"[pod/{pod}] {line}" if prefix else line)
        return 1 if failed else 0
    if len(pods) > MAX_FOLLOWED:
        raise PluginError(f"{len(pods)} pods to follow, more than {MAX_FOLLOWED}: use --component or --tail")
    return _follow(ctx, pods, prefix)


def _follow(ctx: Context, pods: list[str], prefix: bool) -> int:
    """One thread per pod reads its stream; this one prints, so lines never interleave mid-line."""
    lines: queue.Queue[tuple[str, Any]] = queue.Queue()

    def read(pod: str) -> None:
        try:
            for line in ctx.cluster.follow_log(pod, tail=ctx.args.tail):
                lines.put((pod, line))
        except PluginError as exc:
            lines.put((pod, exc))
        except Exception as exc:  # reported like any other failure; the others go on
            lines.put((pod, PluginError(f'following the log of pod "{pod}": {exc}')))
        finally:
            lines.put((pod, None))

    for pod in pods:
        threading.Thread(target=read, args=(pod,), daemon=True, name=f"log-{pod}").start()
    open_streams, failed = len(pods), 0
    while open_streams:
        pod, item = lines.get()
        if item is None:
            open_streams -= 1
        elif isinstance(item, PluginError):
            print(f"error: {item}", file=sys.stderr, flush=True)
            failed += 1
        else:
            ctx.say(f"[pod/{pod}] {item}" if prefix else str(item))
    return 1 if failed else 0
