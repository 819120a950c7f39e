"""`backup`, `backups`, `restore` and `clone`: each creates one ClubBackup, ClubRestore or Club that
the operator takes up (clubbackups.py, club_restores.py, club_bootstrap.py), or lists them."""

from __future__ import annotations

from typing import Any

from club_operator.kubectl_club import render, requests
from club_operator.kubectl_club.context import Context
from club_operator.kubectl_club.errors import PluginError

BACKUP_DONE = ("Succeeded", "Failed")
RESTORE_DONE = ("Succeeded", "Failed")


def _finished(ctx: Context, obj: Any) -> int:
    ctx.document(obj)
    return 0 if (obj.get("status") or {}).get("phase") == "Succeeded" else 1


def backup(ctx: Context) -> int:
    club = ctx.cluster.get("Club", ctx.args.club)
    made = ctx.cluster.create(requests.club_backup(club["metadata"]["name"], ctx.now()))
    name = made["metadata"]["name"]
    if not ctx.args.wait:
        if not ctx.document(made):
            ctx.say(f"clubbackup.footballclub.io/{name} created")
        return 0
    if ctx.output not in ("json", "yaml"):
        ctx.say(f"clubbackup.footballclub.io/{name} created; waiting")
    return _finished(ctx, ctx.wait_for_phase("ClubBackup", name, ctx.args.timeout, done=BACKUP_DONE))


def backups(ctx: Context) -> int:
    club = ctx.cluster.get("Club", ctx.args.club)
    found = render.summary(club, ctx.cluster.list_objects("ClubBackup"), [], [])["backups"]
    if ctx.document({"items": found}):
        return 0
    if not found:
        ctx.say(f'No ClubBackups of Club "{ctx.args.club}" in namespace "{ctx.cluster.namespace}".')
        return 0
    ctx.say(render.backups_table(found, wide=ctx.output == "wide", now=ctx.now()))
    return 0


def _backup_of(ctx: Context, club: str, backup_name: str) -> dict[str, Any]:
    """The ClubBackup, which must be of `club`: the operator would refuse another Club's anyway."""
    found = ctx.cluster.get("ClubBackup", backup_name)
    if render.club_of(found) != club:
        raise PluginError(
            f'ClubBackup "{backup_name}" is a backup of Club "{render.club_of(found)}", not of "{club}"'
        )
    return found


def restore(ctx: Context) -> int:
    club = ctx.cluster.get("Club", ctx.args.club)["metadata"]["name"]
    _backup_of(ctx, club, ctx.args.backup)
    made = ctx.cluster.create(requests.club_restore(club, ctx.args.backup, ctx.now()))
    name = made["metadata"]["name"]
    if not ctx.args.wait:
        if not ctx.document(made):
            ctx.say(f"clubrestore.footballclub.io/{name} created (restoring {club} to {ctx.args.backup})")
        return 0
    if ctx.output not in ("json", "yaml"):
        ctx.say(f"clubrestore.footballclub.io/{name} created; waiting")
    return _finished(ctx, ctx.wait_for_phase("ClubRestore", name, ctx.args.timeout, done=RESTORE_DONE))


def clone(ctx: Context) -> int:
    source = ctx.cluster.get("Club", ctx.args.club)
    _backup_of(ctx, source["metadata"]["name"], ctx.args.backup)
    body = requests.clone(source, ctx.args.new, ctx.args.backup)
    shown = (source.get("spec") or {}).get("displayName") or ctx.args.club
    body["spec"]["displayName"] = ctx.args.display_name or f"{shown} (clone)"
    made = ctx.cluster.create(body)
    if not ctx.document(made):
        ctx.say(
            f"club.footballclub.io/{ctx.args.new} created from {ctx.args.club}'s backup {ctx.args.backup}"
        )
    return 0
