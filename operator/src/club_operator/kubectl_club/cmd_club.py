"""`rotate`, `revoke`, `suspend` and `resume`: each writes one annotation or spec.suspend on the Club;
the operator does the work (rotation.py and its credentials' modules; suspension in the reconcile)."""

from __future__ import annotations

import sys

from club_operator.kubectl_club import requests
from club_operator.kubectl_club.context import Context
from club_operator.kubectl_club.errors import PluginError


def _annotate(ctx: Context, key: str, reason: str, what: str) -> int:
    club = ctx.cluster.get("Club", ctx.args.club)
    value = requests.request_value(reason, ctx.now())
    patched = ctx.cluster.patch("Club", club["metadata"]["name"], requests.annotation_patch(key, value))
    if not ctx.document(patched):
        ctx.say(f"club.footballclub.io/{ctx.args.club} {what} ({key}={value})")
        if (club.get("spec") or {}).get("suspend"):
            ctx.say("note: the Club is suspended; the operator acts on the request once it is resumed")
    return 0


def rotate(ctx: Context) -> int:
    return _annotate(ctx, requests.ROTATE_ANNOTATION, ctx.args.reason, "rotation requested")


def _confirmed(ctx: Context) -> None:
    club = ctx.args.club
    if ctx.args.yes:
        return
    if not sys.stdin.isatty():
        raise PluginError(
            f'not revoking Club "{club}": revoke replaces every credential at once and needs confirmation, '
            "but there is no terminal to ask on; run it with --yes. Nothing was changed"
        )
    print(
        f'Revoke replaces every credential of Club "{club}" in namespace "{ctx.cluster.namespace}" at once: '
        "sessions and tokens issued with the current ones stop working.",
        file=sys.stderr,
    )
    try:
        answer = input(f"Type the Club's name ({club}) to confirm: ")
    except EOFError:
        answer = ""
    if answer.strip() != club:
        raise PluginError(f'not revoking Club "{club}": not confirmed. Nothing was changed')


def revoke(ctx: Context) -> int:
    if not ctx.args.reason.strip():
        raise PluginError("--reason must say why the credentials are revoked")
    ctx.cluster.get("Club", ctx.args.club)  # a missing Club is reported before asking
    _confirmed(ctx)
    return _annotate(ctx, requests.REVOKE_ANNOTATION, ctx.args.reason, "revocation requested")


def _suspend(ctx: Context, suspend: bool) -> int:
    club = ctx.cluster.get("Club", ctx.args.club)
    word = "suspended" if suspend else "resumed"
    if bool((club.get("spec") or {}).get("suspend")) == suspend:
        if not ctx.document(club):
            ctx.say(f"club.footballclub.io/{ctx.args.club} already {word}")
        return 0
    patched = ctx.cluster.patch("Club", club["metadata"]["name"], requests.suspend_patch(suspend))
    if not ctx.document(patched):
        ctx.say(f"club.footballclub.io/{ctx.args.club} {word}")
    return 0


def suspend(ctx: Context) -> int:
    return _suspend(ctx, True)


def resume(ctx: Context) -> int:
    return _suspend(ctx, False)
