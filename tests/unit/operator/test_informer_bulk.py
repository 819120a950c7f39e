"""The copies drop a Deployment's pod template once the operator vouched for its generation
(informers.py): versions of that generation are held without it, any other generation whole."""

from __future__ import annotations

import json
from typing import Any

from club_operator.informers import Informer, spec_digest, without

DIGEST = spec_digest({"replicas": 1, "template": {"spec": {"containers": [{"name": "api"}]}}})


def _deployment(version: str, generation: int, ready: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "ns", "name": "api", "resourceVersion": version, "generation": generation},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "api", "image": "x"}]}}},
        "status": {"observedGeneration": generation, "availableReplicas": ready},
    }


class _Body:
    def __init__(self, payload: bytes) -> None:
        self.payload = payload

    def read(self) -> bytes:
        return self.payload

    def stream(self, _amt: int, decode_content: bool = True) -> Any:
        yield self.payload

    def release_conn(self) -> None:
        pass

    def close(self) -> None:
        pass


def _informer(listed: list[dict[str, Any]], events: list[dict[str, Any]]) -> Informer:
    def request(_path: str, query: list[tuple[str, str]], _timeout: float | None) -> _Body:
        if "watch" in dict(query):
            return _Body(b"\n".join(json.dumps(e).encode() for e in events) + b"\n")
        return _Body(json.dumps({"metadata": {"resourceVersion": "10"}, "items": listed}).encode())

    return Informer("Deployment/ns", "/apis/apps/v1/namespaces/ns/deployments", "", request, bulk="template")


def _held(informer: Informer) -> dict[str, Any]:
    known, obj = informer.get("ns", "api")
    assert known
    assert obj is not None
    return obj


def test_without_drops_only_the_bulk() -> None:
    slimmed = without(_deployment("5", 1), "template")
    assert slimmed["spec"] == {"replicas": 1}
    assert slimmed["status"] == _deployment("5", 1)["status"]
    assert "template" in _deployment("5", 1)["spec"]  # a new dict


def test_the_digest_does_not_depend_on_the_order_of_fields() -> None:
    assert spec_digest({"a": 1, "b": [1, 2]}) == spec_digest({"b": [1, 2], "a": 1})
    assert spec_digest({"a": 1}) != spec_digest({"a": 2})


def test_a_listed_object_is_held_whole_until_vouched_for() -> None:
    informer = _informer([_deployment("5", 1)], [])
    informer._list()
    assert "template" in _held(informer)["spec"]
    assert not informer.vouched("ns", "api", 1, DIGEST)
    informer.vouch("ns", "api", 1, DIGEST)
    assert _held(informer)["spec"] == {"replicas": 1}
    assert informer.vouched("ns", "api", 1, DIGEST)
    assert not informer.vouched("ns", "api", 1, spec_digest({"replicas": 2}))
    assert not informer.vouched("ns", "api", 2, DIGEST)


def test_status_versions_of_a_vouched_generation_come_in_slim_a_new_generation_whole() -> None:
    informer = _informer(
        [_deployment("5", 1)],
        [
            {"type": "MODIFIED", "object": _deployment("11", 1, ready=1)},
            {"type": "MODIFIED", "object": _deployment("12", 2)},
        ],
    )
    informer._list()
    informer.vouch("ns", "api", 1, DIGEST)
    informer._apply({"type": "MODIFIED", "object": _deployment("11", 1, ready=1)})
    held = _held(informer)
    assert held["spec"] == {"replicas": 1}
    assert held["status"]["availableReplicas"] == 1
    # Someone changed the spec: the new generation is held whole, and not vouched for.
    informer._apply({"type": "MODIFIED", "object": _deployment("12", 2)})
    assert "template" in _held(informer)["spec"]
    assert not informer.vouched("ns", "api", 2, DIGEST)


def test_our_write_that_holds_its_manifest_is_held_slim() -> None:
    informer = _informer([], [])
    informer._list()
    informer.remember(_deployment("7", 3), holds=DIGEST)
    assert _held(informer)["spec"] == {"replicas": 1}
    assert informer.vouched("ns", "api", 3, DIGEST)
    informer.remember(_deployment("8", 4))  # no finding: held whole
    assert "template" in _held(informer)["spec"]


def test_forgetting_or_a_deletion_drops_the_finding() -> None:
    informer = _informer([_deployment("5", 1)], [])
    informer._list()
    informer.vouch("ns", "api", 1, DIGEST)
    informer.forget("ns", "api")
    assert not informer.vouched("ns", "api", 1, DIGEST)
    informer.remember(_deployment("6", 1))
    assert "template" in _held(informer)["spec"]
    informer.vouch("ns", "api", 1, DIGEST)
    informer._apply({"type": "DELETED", "object": _deployment("9", 1)})
    assert not informer.vouched("ns", "api", 1, DIGEST)


def test_a_copy_without_bulk_keeps_every_object_whole() -> None:
    def request(_path: str, _query: list[tuple[str, str]], _timeout: float | None) -> _Body:
        return _Body(
            json.dumps({"metadata": {"resourceVersion": "10"}, "items": [_deployment("5", 1)]}).encode()
        )

    informer = Informer("Deployment/ns", "/apis/apps/v1/namespaces/ns/deployments", "", request)
    informer._list()
    informer.vouch("ns", "api", 1, DIGEST)
    assert "template" in _held(informer)["spec"]
