"""What the mutating commands write, built without I/O: the annotations the operator acts on and the
small custom objects it takes up (ClubBackup, ClubRestore, a cloned Club, VideoJob). Names carry a
UTC time stamp (passed in) so that two requests are two objects, and two annotation values."""

from __future__ import annotations

import copy
import hashlib
import re
from datetime import datetime
from typing import Any

from club_operator import naming

API_VERSION = f"{naming.GROUP}/{naming.VERSION}"
ROTATE_ANNOTATION = f"{naming.GROUP}/rotate"
REVOKE_ANNOTATION = f"{naming.GROUP}/revoke"
BY_LABEL = "app.kubernetes.io/created-by"
BY = "kubectl-club"
_NAME_MAX = 63  # the objects' names stay DNS labels: they become label values and Job names
_STAMP = "%Y%m%d-%H%M%S"


def stamp(now: datetime) -> str:
    return now.strftime(_STAMP)


def object_name(*parts: str) -> str:
    """A DNS-1123 label from `parts` (joined by '-'); cut with a digest of the whole when too long."""
    stem = "-".join(p for p in (re.sub(r"[^a-z0-9]+", "-", part.lower()).strip("-") for part in parts) if p)
    if len(stem) <= _NAME_MAX:
        return stem or "x"
    digest = hashlib.sha256(stem.encode()).hexdigest()[:8]
    return stem[: _NAME_MAX - len(digest) - 1].rstrip("-") + "-" + digest


def request_value(reason: str, now: datetime) -> str:
    """An annotation value for footballclub.io/rotate or /revoke: the operator acts on each value once,
    so the time keeps two requests with the same reason apart."""
    return f"{reason.strip()} ({now.strftime('%Y-%m-%dT%H:%M:%SZ')})"


def annotation_patch(key: str, value: str) -> dict[str, Any]:
    return {"metadata": {"annotations": {key: value}}}


def suspend_patch(suspend: bool) -> dict[str, Any]:
    return {"spec": {"suspend": suspend}}


def _metadata(name: str, club: str) -> dict[str, Any]:
    return {"name": name, "labels": {naming.CLUB_LABEL: club, BY_LABEL: BY}}


def club_backup(club: str, now: datetime) -> dict[str, Any]:
    """A ClubBackup a person asked for (trigger Manual): not owned by the Club, so it outlives it."""
    return {
        "apiVersion": API_VERSION,
        "kind": "ClubBackup",
        "metadata": _metadata(object_name(club, stamp(now)), club),
        "spec": {"clubRef": {"name": club}, "trigger": "Manual"},
    }


def club_restore(club: str, backup: str, now: datetime) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "ClubRestore",
        "metadata": _metadata(object_name(club, "restore", stamp(now)), club),
        "spec": {"clubRef": {"name": club}, "backupRef": {"name": backup}},
    }


def clone(source: dict[str, Any], new: str, backup: str) -> dict[str, Any]:
    """A new Club with the source's spec, started from one of the source's backups
    (spec.bootstrap.fromBackup). What names or takes the source's own resources is left out: an
    explicit bucket, adoption, and the source's own bootstrap."""
    spec = copy.deepcopy(source.get("spec") or {})
    for field in ("adopt", "bootstrap"):
        spec.pop(field, None)
    storage = spec.get("storage")
    if isinstance(storage, dict):
        storage.pop("bucket", None)
    spec["suspend"] = False
    spec["bootstrap"] = {"fromBackup": {"clubName": source["metadata"]["name"], "backupName": backup}}
    return {
        "apiVersion": API_VERSION,
        "kind": "Club",
        "metadata": {"name": new, "labels": {BY_LABEL: BY}},
        "spec": spec,
    }


def upload_key(file_name: str, now: datetime) -> str:
    """Where `video submit` puts the file in the club's bucket."""
    base = re.sub(r"[^A-Za-z0-9._-]+", "-", file_name.rsplit("/", 1)[-1]).strip(".-") or "video"
    return f"uploads/{stamp(now)}-{base}"


def video_job(club: str, key: str, now: datetime, *, priority: str | None, gpu: str | None) -> dict[str, Any]:
    stem = key.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    spec: dict[str, Any] = {"clubRef": {"name": club}, "source": {"key": key}}
    if priority:
        spec["priority"] = priority
    if gpu:
        spec["gpu"] = gpu
    return {
        "apiVersion": API_VERSION,
        "kind": "VideoJob",
        "metadata": _metadata(object_name(club, stem), club),
        "spec": spec,
    }
