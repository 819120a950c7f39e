"""The one-line errors a person meets: the API server's refusals and an unreachable cluster,
translated at the boundary into `PluginError`, whose message is what the plugin prints."""

from __future__ import annotations

import json
from typing import Any


class PluginError(Exception):
    """Stops the command: its message is printed on one line and the plugin exits non-zero."""


class NotServed(PluginError):
    """The API server does not serve the operator's resources: the CRDs are not installed."""


def one_line(text: str) -> str:
    return " ".join(text.split())


def server_message(body: str | bytes | None) -> dict[str, Any]:
    """The Status object an API server sends with a refusal (empty when the body is not one)."""
    if not body:
        return {}
    try:
        found = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return {}
    return found if isinstance(found, dict) and found.get("kind") == "Status" else {}


def names_object(status: dict[str, Any]) -> bool:
    """Whether a 404's Status is about one object (it does not exist), not about its kind (the
    server does not serve the resource at all: no CRD)."""
    details = status.get("details") or {}
    return bool(details.get("name"))


def refusal(
    code: int, body: str | bytes | None, doing: str, kind_plural: str, *, custom: bool = True
) -> PluginError:
    """The error for an API server's refusal (`code`) while `doing` something. `custom`: the
    resource is one of the operator's, so a 404 about the resource itself means no CRD."""
    status = server_message(body)
    message = one_line(str(status.get("message") or ""))
    if code == 404 and custom and not names_object(status):
        return NotServed(
            f"the API server does not serve {kind_plural}: the club operator's CRDs are not installed "
            "(kubectl apply --server-side -f crds/)"
        )
    if code == 404:
        return PluginError(f"{doing}: {message or 'not found'}")
    if code == 403:
        return PluginError(f"{doing}: forbidden: {message or 'no permission'}")
    if code == 401:
        return PluginError(f"{doing}: unauthorized: the API server refused the kubeconfig's credentials")
    return PluginError(f"{doing}: {code} {message}".rstrip())


def unreachable(host: str, cause: BaseException) -> PluginError:
    reason = getattr(cause, "reason", None) or cause
    text = one_line(str(reason))
    # urllib3 puts the connection object's repr first ("<...HTTPSConnection object at 0x..>: Failed ...")
    for opener, closer in (("<", ">: "), ("HTTPConnection(", "): "), ("HTTPSConnection(", "): ")):
        if text.startswith(opener) and closer in text:
            text = text.split(closer, 1)[1]
    return PluginError(f"cannot reach the cluster at {host}: {text}")
