"""Shell completion, pure: the command tree the parser is built from, the words that may come next,
and the bash and zsh scripts that ask `kubectl-club __complete` for them. kubectl itself (1.26+)
completes `kubectl club ...` through `kubectl_complete-club`, the same program: both print one
candidate a line and then cobra's `:<directive>` line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

COMMON_OPTIONS = ("--kubeconfig", "--context", "--namespace", "-n", "--output", "-o", "--help", "-h")
# cobra's ShellCompDirectiveNoFileComp: the shell offers no file names instead.
NO_FILES = 4
DEFAULT = 0
OPTION_VALUES: Mapping[str, Sequence[str]] = {
    "-o": ("json", "yaml", "wide"),
    "--output": ("json", "yaml", "wide"),
    "--component": ("api", "worker-default", "worker-video"),
    "--priority": ("high", "normal", "low"),
    "--gpu": ("auto", "required", "never"),
}
VALUE_OPTIONS = frozenset(
    {
        "--kubeconfig",
        "--context",
        "--namespace",
        "-n",
        "-o",
        "--output",
        "--component",
        "--reason",
        "--backup",
    }
    | {"--timeout", "--tail", "--priority", "--gpu", "--s3-endpoint", "--display-name"}
)


@dataclass(frozen=True)
class Command:
    """One verb: its own options, whether its first argument is a Club, its sub-verbs."""

    options: tuple[str, ...] = ()
    takes_club: bool = False
    takes_file: bool = False
    sub: Mapping[str, Command] = field(default_factory=dict)


def _words(line: str) -> tuple[str, ...]:
    return tuple(line.split())


TREE = Command(
    sub={
        "status": Command(_words("--all-namespaces -A"), takes_club=True),
        "backup": Command(_words("--wait --timeout"), takes_club=True),
        "backups": Command(takes_club=True),
        "restore": Command(_words("--backup --wait --timeout"), takes_club=True),
        "clone": Command(_words("--backup --display-name"), takes_club=True),
        "rotate": Command(_words("--reason"), takes_club=True),
        "revoke": Command(_words("--reason --yes -y"), takes_club=True),
        "suspend": Command(takes_club=True),
        "resume": Command(takes_club=True),
        "logs": Command(_words("--component -c --follow -f --tail"), takes_club=True),
        "video": Command(
            sub={
                "submit": Command(
                    _words("--priority --gpu --s3-endpoint --watch --timeout"),
                    takes_club=True,
                    takes_file=True,
                ),
                "watch": Command(_words("--timeout")),
                "outputs": Command(),
            }
        ),
        "completion": Command(sub={"bash": Command(), "zsh": Command()}),
    }
)


@dataclass(frozen=True)
class Wanted:
    """What the word being completed can be: fixed candidates, and whether Club names fit too."""

    candidates: tuple[str, ...]
    clubs: bool = False
    files: bool = False


def complete(words: Sequence[str]) -> Wanted:
    """What may follow `words` (the last one is the word being typed, possibly empty)."""
    *done, current = list(words) or [""]
    command, positional, expects_value = TREE, 0, None
    for word in done:
        if expects_value is not None:
            expects_value = None
        elif word.startswith("-"):
            expects_value = word if word in VALUE_OPTIONS and "=" not in word else None
        elif word in command.sub:
            command, positional = command.sub[word], 0
        else:
            positional += 1
    if expects_value is not None:
        return Wanted(tuple(OPTION_VALUES.get(expects_value, ())), files=expects_value == "--kubeconfig")
    if current.startswith("-"):
        return Wanted(tuple(o for o in (*command.options, *COMMON_OPTIONS) if o.startswith(current)))
    if command.sub:
        return Wanted(tuple(v for v in command.sub if v.startswith(current)))
    if command.takes_club and positional == 0:
        return Wanted((), clubs=True)
    return Wanted((), files=command.takes_file and positional == 1)


BASH = """# bash completion for kubectl-club (kubectl club): source <(kubectl-club completion bash)
_kubectl_club() {
    local IFS=$'\\n'
    local out
    out=$(kubectl-club __complete "${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return
    local directive=${out##*:}
    out=${out%:*}
    COMPREPLY=($(compgen -W "${out}" -- "${COMP_WORDS[COMP_CWORD]}"))
    if [[ ${#COMPREPLY[@]} -eq 0 && $directive != 4 ]]; then
        COMPREPLY=($(compgen -f -- "${COMP_WORDS[COMP_CWORD]}"))
    fi
}
complete -F _kubectl_club kubectl-club
"""

ZSH = """#compdef kubectl-club
# zsh completion for kubectl-club (kubectl club): source <(kubectl-club completion zsh)
_kubectl_club() {
    local -a out
    local directive
    out=("${(@f)$(kubectl-club __complete "${(@)words[2,$CURRENT]}" 2>/dev/null)}")
    directive=${out[-1]#:}
    out=("${(@)out[1,-2]}")
    if (( ${#out} )); then
        compadd -a out
    elif [[ $directive != 4 ]]; then
        _files
    fi
}
compdef _kubectl_club kubectl-club
"""

SCRIPTS = {"bash": BASH, "zsh": ZSH}


def answer(wanted: Wanted, clubs: Sequence[str], current: str) -> str:
    """The `__complete` reply: one candidate a line, then the directive."""
    found = (
        [*wanted.candidates, *(c for c in clubs if c.startswith(current))]
        if wanted.clubs
        else [*wanted.candidates]
    )
    directive = DEFAULT if wanted.files else NO_FILES
    return "\n".join([*found, f":{directive}"])
