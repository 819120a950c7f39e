"""`kubectl club`: the parser (kubectl's own flags on every verb), the dispatch, and the exit codes.
A PluginError is printed as one line, `error: ...`, with exit status 1; a wrong command line exits 2
(argparse); Ctrl-C 130."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeAlias

from club_operator.kubectl_club import cmd_backup, cmd_club, cmd_logs, cmd_status, cmd_video, completion
from club_operator.kubectl_club.cluster import Cluster, Target
from club_operator.kubectl_club.context import Context
from club_operator.kubectl_club.errors import PluginError

PROG = "kubectl club"
Handler = Callable[[Context], int]
if TYPE_CHECKING:
    Subs: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]


def _common(parser: argparse.ArgumentParser) -> None:
    """kubectl's flags. SUPPRESS keeps a verb's parser from overwriting a value given before the verb."""
    group = parser.add_argument_group("kubectl options")
    group.add_argument("--kubeconfig", default=argparse.SUPPRESS, help="path to the kubeconfig file")
    group.add_argument("--context", default=argparse.SUPPRESS, help="the kubeconfig context to use")
    group.add_argument(
        "-n", "--namespace", default=argparse.SUPPRESS, help="the namespace (default: the context's)"
    )
    group.add_argument(
        "-o", "--output", choices=("json", "yaml", "wide"), default=argparse.SUPPRESS, help="output format"
    )


def _verb(subs: Subs, name: str, handler: Handler, text: str) -> argparse.ArgumentParser:
    parser = subs.add_parser(name, help=text, description=text, prog=f"{PROG} {name}")
    _common(parser)
    parser.set_defaults(handler=handler)
    return parser


def _timeout(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--timeout", type=float, default=600.0, metavar="SEC", help=f"give up waiting for {what} after SEC"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Day-2 commands for the club operator's Clubs. Reads only from the API server; "
        "changes only annotations, spec.suspend, and small custom objects the operator acts on.",
    )
    _common(parser)
    subs = parser.add_subparsers(title="commands", metavar="COMMAND", required=True)

    p = _verb(subs, "status", cmd_status.run, "a Club's status page, or a table of Clubs")
    p.add_argument("club", nargs="?", metavar="CLUB")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")

    _backup_verbs(subs)
    _club_verbs(subs)
    _video_verbs(subs)

    p = subs.add_parser("completion", help="print a shell completion script", prog=f"{PROG} completion")
    p.add_argument("shell", choices=sorted(completion.SCRIPTS))
    p.set_defaults(handler=None)
    return parser


def _backup_verbs(subs: Subs) -> None:
    p = _verb(subs, "backup", cmd_backup.backup, "take a backup now (creates a ClubBackup)")
    p.add_argument("club", metavar="CLUB")
    p.add_argument("--wait", action="store_true", help="wait until the backup Succeeded or Failed")
    _timeout(p, "the backup")

    p = _verb(subs, "backups", cmd_backup.backups, "the Club's ClubBackups, oldest first")
    p.add_argument("club", metavar="CLUB")

    p = _verb(subs, "restore", cmd_backup.restore, "roll the Club back to a backup (creates a ClubRestore)")
    p.add_argument("club", metavar="CLUB")
    p.add_argument("--backup", required=True, metavar="NAME", help="the ClubBackup to restore")
    p.add_argument("--wait", action="store_true", help="wait until the restore Succeeded or Failed")
    _timeout(p, "the restore")

    p = _verb(subs, "clone", cmd_backup.clone, "a new Club started from a backup of CLUB")
    p.add_argument("club", metavar="CLUB")
    p.add_argument("new", metavar="NEW", help="the new Club's name")
    p.add_argument("--backup", required=True, metavar="NAME", help="the ClubBackup of CLUB to start from")
    p.add_argument("--display-name", help="the new Club's displayName (default: CLUB's, marked as a clone)")


def _club_verbs(subs: Subs) -> None:
    p = _verb(subs, "rotate", cmd_club.rotate, "rotate the Club's credentials now (footballclub.io/rotate)")
    p.add_argument("club", metavar="CLUB")
    p.add_argument("--reason", default="requested", help="recorded in the annotation's value")

    p = _verb(
        subs,
        "revoke",
        cmd_club.revoke,
        "replace every credential of the Club at once (footballclub.io/revoke)",
    )
    p.add_argument("club", metavar="CLUB")
    p.add_argument("--reason", required=True, help="why (a breach): recorded in the annotation's value")
    p.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    p = _verb(subs, "suspend", cmd_club.suspend, "scale the Club to zero, pause backups and rotation")
    p.add_argument("club", metavar="CLUB")
    p = _verb(subs, "resume", cmd_club.resume, "undo suspend")
    p.add_argument("club", metavar="CLUB")

    p = _verb(subs, "logs", cmd_logs.run, "the logs of the Club's pods of one component")
    p.add_argument("club", metavar="CLUB")
    p.add_argument("-c", "--component", choices=cmd_logs.COMPONENTS, default="api", help="default: api")
    p.add_argument("-f", "--follow", action="store_true", help="keep printing as the pods write")
    p.add_argument("--tail", type=int, default=None, metavar="N", help="only the last N lines of each pod")


def _video_verbs(subs: Subs) -> None:
    video = subs.add_parser("video", help="VideoJobs: submit, watch, outputs", prog=f"{PROG} video")
    _common(video)
    vsubs = video.add_subparsers(title="video commands", metavar="COMMAND", required=True)
    p = _verb(vsubs, "submit", cmd_video.submit, "upload FILE to the Club's bucket and create its VideoJob")
    p.prog = f"{PROG} video submit"
    p.add_argument("club", metavar="CLUB")
    p.add_argument("file", metavar="FILE")
    p.add_argument("--priority", choices=("high", "normal", "low"))
    p.add_argument("--gpu", choices=("auto", "required", "never"))
    p.add_argument(
        "--s3-endpoint", help="reach the bucket here instead of the endpoint in the Club's storage Secret"
    )
    p.add_argument("--watch", action="store_true", help="then watch it like `video watch`")
    _timeout(p, "the VideoJob")
    p = _verb(vsubs, "watch", cmd_video.watch, "a VideoJob's progress until it Succeeded or Failed")
    p.prog = f"{PROG} video watch"
    p.add_argument("name", metavar="NAME")
    _timeout(p, "the VideoJob")
    p = _verb(vsubs, "outputs", cmd_video.outputs, "the object keys a VideoJob produced")
    p.prog = f"{PROG} video outputs"
    p.add_argument("name", metavar="NAME")


def _complete(words: Sequence[str]) -> int:
    """`__complete WORDS...`: candidates for the last word (Club names from the API server, if it
    answers quickly; completion never prints an error)."""
    wanted = completion.complete(words)
    clubs: list[str] = []
    if wanted.clubs:
        try:
            parsed, _ = _flags_only().parse_known_args(list(words))
            cluster = Cluster(Target(parsed.kubeconfig, parsed.context, parsed.namespace))
            clubs = sorted(str(c["metadata"]["name"]) for c in cluster.list_objects("Club"))
        except PluginError:
            clubs = []
    current = list(words)[-1] if words else ""
    print(completion.answer(wanted, clubs, current))
    return 0


def _flags_only() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--kubeconfig")
    parser.add_argument("--context")
    parser.add_argument("-n", "--namespace")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_in = list(sys.argv[1:] if argv is None else argv)
    if args_in[:1] == ["__complete"]:
        return _complete(args_in[1:])
    args = build_parser().parse_args(args_in)
    if args.handler is None:
        sys.stdout.write(completion.SCRIPTS[args.shell])
        return 0
    try:
        target = Target(
            getattr(args, "kubeconfig", None),
            getattr(args, "context", None),
            getattr(args, "namespace", None),
        )
        ctx = Context(cluster=Cluster(target), args=args, output=getattr(args, "output", None))
        code: int = args.handler(ctx)
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


def run() -> None:
    """The console script `kubectl-club`."""
    sys.exit(main())


def run_completion() -> None:
    """The console script `kubectl_complete-club`: kubectl (1.26+) runs it with the words typed
    after `kubectl club` to complete them."""
    sys.exit(_complete(sys.argv[1:]))
