"""Shell completion and the one-line errors, pure."""

from __future__ import annotations

import argparse
import json

import pytest

from club_operator.kubectl_club import completion, errors
from club_operator.kubectl_club.cli import build_parser


@pytest.mark.parametrize(
    ("words", "candidates", "clubs"),
    [
        (
            [""],
            (
                "status",
                "backup",
                "backups",
                "restore",
                "clone",
                "rotate",
                "revoke",
                "suspend",
                "resume",
                "logs",
                "video",
                "completion",
            ),
            False,
        ),
        (["back"], ("backup", "backups"), False),
        (["video", ""], ("submit", "watch", "outputs"), False),
        (["status", ""], (), True),
        (["logs", "fc", "--component", ""], ("api", "worker-default", "worker-video"), False),
        (["status", "-o", "y"], ("json", "yaml", "wide"), False),
        (["revoke", "fc", "--y"], ("--yes",), False),
    ],
)
def test_completion_candidates(words: list[str], candidates: tuple[str, ...], clubs: bool) -> None:
    wanted = completion.complete(words)
    assert wanted.candidates == candidates
    assert wanted.clubs is clubs


def test_completion_answer_has_clubs_and_the_directive() -> None:
    wanted = completion.complete(["status", "ri"])
    assert completion.answer(wanted, ["riverside-fc", "town-fc"], "ri") == "riverside-fc\n:4"
    assert completion.answer(completion.complete(["video", "submit", "fc", ""]), [], "").endswith(":0")


EXAMPLES = {
    "status": ["status"],
    "backup": ["backup", "fc", "--wait"],
    "backups": ["backups", "fc"],
    "restore": ["restore", "fc", "--backup", "b"],
    "clone": ["clone", "fc", "copy", "--backup", "b"],
    "rotate": ["rotate", "fc"],
    "revoke": ["revoke", "fc", "--reason", "leak", "--yes"],
    "suspend": ["suspend", "fc"],
    "resume": ["resume", "fc"],
    "logs": ["logs", "fc", "-c", "worker-video", "-f"],
    "video": ["video", "watch", "job"],
    "completion": ["completion", "zsh"],
}


def _verb_help(parser: argparse.ArgumentParser, *verbs: str) -> str:
    for verb in verbs:
        (subs,) = (a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = subs.choices[verb]
    return parser.format_help()


def test_every_verb_in_the_completion_tree_parses_and_has_its_options() -> None:
    """The completion tree and the parser name the same verbs, with the same options."""
    assert set(completion.TREE.sub) == set(EXAMPLES)
    parser = build_parser()
    for verb, args in EXAMPLES.items():
        assert parser.parse_args(args), verb
    for verb, command in completion.TREE.sub.items():
        if verb == "completion":  # its "options" are shells, positional
            continue
        for path, leaf in [((verb, sub), c) for sub, c in command.sub.items()] or [((verb,), command)]:
            text = _verb_help(build_parser(), *path)
            for option in (*leaf.options, "--kubeconfig", "--namespace", "--output"):
                assert option in text, (path, option)


def test_kubectl_flags_parse_before_and_after_the_verb() -> None:
    parser = build_parser()
    before = parser.parse_args(["-n", "clubs", "--context", "prod", "status", "fc", "-o", "json"])
    after = parser.parse_args(["status", "fc", "-n", "clubs", "--context", "prod", "-o", "json"])
    for args in (before, after):
        assert (args.namespace, args.context, args.output, args.club) == ("clubs", "prod", "json", "fc")


def _status(**fields: object) -> str:
    return json.dumps({"kind": "Status", "apiVersion": "v1", **fields})


def test_a_missing_object_and_a_missing_crd_are_told_apart() -> None:
    missing = _status(message='clubs.footballclub.io "x" not found', reason="NotFound", details={"name": "x"})
    assert str(errors.refusal(404, missing, "reading Club", "clubs")) == (
        'reading Club: clubs.footballclub.io "x" not found'
    )
    no_crd = _status(
        message="the server could not find the requested resource", reason="NotFound", details={}
    )
    refused = errors.refusal(404, no_crd, "reading Club", "clubs.footballclub.io")
    assert isinstance(refused, errors.NotServed)
    assert "CRDs are not installed" in str(refused)
    assert isinstance(errors.refusal(404, "404 page not found", "x", "clubs"), errors.NotServed)


def test_forbidden_keeps_the_servers_one_line_reason() -> None:
    body = _status(
        message='clubs.footballclub.io "x" is forbidden: User "u"\ncannot get resource', details={}
    )
    assert str(errors.refusal(403, body, "reading Club", "clubs")) == (
        'reading Club: forbidden: clubs.footballclub.io "x" is forbidden: User "u" cannot get resource'
    )


def test_unreachable_drops_the_connection_objects_repr() -> None:
    cause = OSError("<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to establish: refused")
    assert (
        str(errors.unreachable("https://h:1", cause))
        == "cannot reach the cluster at https://h:1: Failed to establish: refused"
    )


def test_a_404_about_a_core_resource_is_not_a_missing_crd() -> None:
    body = _status(message="the server could not find the requested resource", details={})
    refused = errors.refusal(404, body, 'reading the log of pod "p"', "pods/log", custom=False)
    assert not isinstance(refused, errors.NotServed)
    assert str(refused) == 'reading the log of pod "p": the server could not find the requested resource'
