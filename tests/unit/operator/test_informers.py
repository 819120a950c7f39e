"""The informer's copy of a kind: which version of an object wins, and how a watch's events change
the copy. No server: the events are fed in as the API server would send them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from club_operator.informers import LAST_APPLIED, Informer, WatchExpired, newer, slim


def _obj(name: str, version: str, **data: str) -> dict[str, Any]:
    return {"metadata": {"namespace": "ns", "name": name, "resourceVersion": version}, "data": data}


class _Body:
    """A server response body: the bytes, in chunks that need not end at a line."""

    def __init__(self, payload: bytes, chunk: int = 7) -> None:
        self.payload, self.chunk, self.released = payload, chunk, False

    def read(self) -> bytes:
        return self.payload

    def stream(self, _amt: int, decode_content: bool = True) -> Any:
        for i in range(0, len(self.payload), self.chunk):
            yield self.payload[i : i + self.chunk]

    def release_conn(self) -> None:
        self.released = True

    def close(self) -> None:
        pass


def _informer(listed: list[dict[str, Any]], events: list[dict[str, Any]]) -> tuple[Informer, list[Any]]:
    asked: list[Any] = []

    def request(path: str, query: list[tuple[str, str]], _timeout: float | None) -> _Body:
        asked.append(dict(query))
        if "watch" in dict(query):
            return _Body(b"\n".join(json.dumps(e).encode() for e in events) + b"\n")
        return _Body(json.dumps({"metadata": {"resourceVersion": "10"}, "items": listed}).encode())

    return Informer("ConfigMap/ns", "/api/v1/namespaces/ns/configmaps", "owner=us", request), asked


def test_an_older_version_never_replaces_a_newer_one() -> None:
    assert newer(_obj("a", "12"), _obj("a", "11"))
    assert newer(_obj("a", "12"), None)
    assert not newer(_obj("a", "11"), _obj("a", "12"))
    # Not a number (not etcd): the latest to arrive wins.
    assert newer(_obj("a", "x"), _obj("a", "12"))


def test_nothing_is_known_before_the_first_list() -> None:
    informer, _ = _informer([_obj("a", "5")], [])
    assert informer.get("ns", "a") == (False, None)


def test_the_list_then_the_watch_events_make_the_copy() -> None:
    informer, asked = _informer(
        [_obj("a", "5", v="1"), _obj("b", "6")],
        [
            {"type": "MODIFIED", "object": _obj("a", "11", v="2")},
            {"type": "ADDED", "object": _obj("c", "12")},
            {"type": "DELETED", "object": _obj("b", "13")},
            {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "20"}}},
        ],
    )
    version = informer._list()
    assert version == "10"
    assert informer.get("ns", "a") == (True, _obj("a", "5", v="1"))
    assert informer._watch(version) == "20"
    assert informer.get("ns", "a") == (True, _obj("a", "11", v="2"))
    assert informer.get("ns", "b") == (True, None)
    assert informer.get("ns", "c")[1] is not None
    # The watch starts where the list ended, on the labelled objects only.
    assert asked[0] == {"labelSelector": "owner=us"}
    assert {k: asked[1][k] for k in ("labelSelector", "watch", "resourceVersion")} == {
        "labelSelector": "owner=us",
        "watch": "true",
        "resourceVersion": "10",
    }


def test_our_own_write_is_seen_at_once_and_a_late_older_event_does_not_undo_it() -> None:
    informer, _ = _informer(
        [_obj("a", "5", v="1")], [{"type": "MODIFIED", "object": _obj("a", "8", v="old")}]
    )
    informer._list()
    informer.remember(_obj("a", "9", v="ours"))
    informer._watch("5")
    assert informer.get("ns", "a") == (True, _obj("a", "9", v="ours"))
    informer.forget("ns", "a")
    assert informer.get("ns", "a") == (True, None)


def test_a_watch_the_server_finds_too_old_asks_for_a_new_list() -> None:
    informer, _ = _informer([], [{"type": "ERROR", "object": {"code": 410, "message": "too old"}}])
    informer._list()
    with pytest.raises(WatchExpired, match="too old"):
        informer._watch("10")


def test_any_other_watch_error_is_an_error() -> None:
    informer, _ = _informer([], [{"type": "ERROR", "object": {"code": 500, "message": "boom"}}])
    informer._list()
    with pytest.raises(RuntimeError, match="500"):
        informer._watch("10")


def test_the_listener_hears_each_version_taken_in_after_the_copy_holds_it() -> None:
    informer, _ = _informer(
        [_obj("a", "5", v="listed")],
        [
            {"type": "MODIFIED", "object": _obj("a", "11", v="new")},
            {"type": "MODIFIED", "object": _obj("a", "9", v="late")},  # older: not taken in
            {"type": "DELETED", "object": _obj("a", "12")},
        ],
    )
    heard: list[tuple[str, Any]] = []

    def listener(obj: dict[str, Any]) -> None:
        # What the listener reads from the copy is already the version it is told about.
        heard.append((obj["data"]["v"], informer.get("ns", "a")[1]))

    informer._listener = listener
    informer.remember(_obj("a", "6", v="ours"))  # our own write: not told
    informer._list()
    informer._watch("10")
    assert [v for v, _ in heard] == ["listed", "new"]
    assert all(held is not None and held["data"]["v"] == v for v, held in heard)


def test_a_failing_listener_does_not_stop_the_watch() -> None:
    informer, _ = _informer(
        [], [{"type": "ADDED", "object": _obj("a", "11")}, {"type": "ADDED", "object": _obj("b", "12")}]
    )

    def listener(obj: dict[str, Any]) -> None:
        raise ValueError("boom")

    informer._listener = listener
    informer._list()
    assert informer._watch("10") == "12"
    assert informer.get("ns", "b")[1] is not None


def _stored(status: dict[str, Any]) -> dict[str, Any]:
    """An object as the API server returns it: bookkeeping beside what the operator reads."""
    meta = _obj("a", "5")["metadata"] | {
        "labels": {"app": "x"},
        "annotations": {LAST_APPLIED: '{"big": "copy"}', "footballclub.io/keep": "yes"},
        "managedFields": [{"manager": "club-operator", "fieldsV1": {"f:spec": {}}}],
    }
    return {"kind": "Deployment", "metadata": meta, "spec": {"replicas": 1}, "status": status}


def test_slim_keeps_what_the_operator_reads_and_drops_the_bookkeeping() -> None:
    stored = _stored({"availableReplicas": 1})
    kept = slim(stored, status=True)
    assert kept == {
        "kind": "Deployment",
        "metadata": {
            "namespace": "ns",
            "name": "a",
            "resourceVersion": "5",
            "labels": {"app": "x"},
            "annotations": {"footballclub.io/keep": "yes"},
        },
        "spec": {"replicas": 1},
        "status": {"availableReplicas": 1},
    }
    assert "status" not in slim(stored, status=False)
    # The object as given is left as it was (the caller may still use it).
    assert stored == _stored({"availableReplicas": 1})


def test_slim_removes_an_annotations_map_left_empty() -> None:
    stored = _obj("a", "5")
    stored["metadata"]["annotations"] = {LAST_APPLIED: "{}"}
    assert slim(stored, status=False) == _obj("a", "5")


def _version(obj: dict[str, Any], version: str) -> dict[str, Any]:
    return obj | {"metadata": obj["metadata"] | {"resourceVersion": version}}


def test_the_copy_holds_slimmed_objects_from_the_list_the_watch_and_our_writes() -> None:
    informer, _ = _informer(
        [_stored({"a": 1})], [{"type": "MODIFIED", "object": _version(_stored({"a": 2}), "11")}]
    )
    version = informer._list()
    assert informer.get("ns", "a") == (True, slim(_stored({"a": 1}), status=True))
    informer._watch(version)
    assert informer.get("ns", "a") == (True, slim(_version(_stored({"a": 2}), "11"), status=True))
    informer.remember(_version(_stored({"a": 3}), "12"))
    assert informer.get("ns", "a") == (True, slim(_version(_stored({"a": 3}), "12"), status=True))
