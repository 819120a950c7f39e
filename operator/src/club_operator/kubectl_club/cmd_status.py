"""`status [CLUB] [-A]`: what the API server knows of a Club (its status, ClubBackups, VideoJobs and
Warning Events), without exec and without touching the club's data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from club_operator.kubectl_club import render
from club_operator.kubectl_club.context import Context
from club_operator.kubectl_club.errors import PluginError


def _time(value: Any) -> str | None:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return str(value) if value else None


def event_record(event: Any) -> dict[str, Any]:
    """A core/v1 Event as the plain dict render.related_warnings reads."""
    involved = event.involved_object
    return {
        "time": _time(event.last_timestamp or event.event_time or event.metadata.creation_timestamp),
        "namespace": involved.namespace or event.metadata.namespace,
        "kind": involved.kind,
        "name": involved.name,
        "reason": event.reason,
        "message": event.message,
        "count": event.count,
    }


def run(ctx: Context) -> int:
    cluster, args = ctx.cluster, ctx.args
    every = bool(args.all_namespaces)
    if args.club and not every:
        clubs = [cluster.get("Club", args.club)]
    else:
        clubs = cluster.list_objects("Club", all_namespaces=every)
        if args.club:
            clubs = [c for c in clubs if c["metadata"]["name"] == args.club]
            if not clubs:
                raise PluginError(f'no Club named "{args.club}" in any namespace')
    backups = cluster.list_objects("ClubBackup", all_namespaces=every)
    restores = cluster.list_objects("ClubRestore", all_namespaces=every)
    videojobs = cluster.list_objects("VideoJob", all_namespaces=every)
    events = [event_record(e) for e in cluster.warning_events(all_namespaces=every)]
    objects = [*backups, *restores, *videojobs]
    summaries = [
        render.summary(club, backups, videojobs, render.related_warnings(events, club, objects))
        for club in clubs
    ]
    now = ctx.now()
    if args.club and not every:
        (one,) = summaries
        if not ctx.document(one):
            ctx.say(render.status_page(one, wide=ctx.output == "wide", now=now))
        return 0
    if ctx.document({"items": summaries}):
        return 0
    if not summaries:
        where = "any namespace" if every else f'namespace "{cluster.namespace}"'
        ctx.say(f"No Clubs found in {where}.")
        return 0
    ctx.say(render.clubs_table(summaries, all_namespaces=every, wide=ctx.output == "wide", now=now))
    return 0
