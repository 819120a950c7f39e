"""Helpers for VideoJob tests: read VideoJobs, and run a Club's video worker as a real process
(club_devstack.pod_worker plays the kubelet for one pod of the Club's video Deployment)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubernetes import client as k8s

from club_devstack.pod_worker import PodWorker
from tests.support import clubs

PLURAL = "videojobs"
TERMINAL = ("Succeeded", "Failed")


def get(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any] | None:
    return clubs.get_object(custom, namespace, PLURAL, name)


def status(custom: k8s.CustomObjectsApi, namespace: str, name: str) -> dict[str, Any]:
    return dict((get(custom, namespace, name) or {}).get("status") or {})


def wait_phase(
    custom: k8s.CustomObjectsApi, namespace: str, name: str, phase: str, *, timeout: float = 60
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        found = status(custom, namespace, name)
        if found.get("phase") == phase:
            return found
        if phase not in TERMINAL and found.get("phase") in TERMINAL:
            raise AssertionError(f"{name} finished as {found} while waiting for {phase}")
        return None

    try:
        result: dict[str, Any] = clubs.wait_for(f"{name} phase {phase}", check, timeout, interval=0.2)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; status: {status(custom, namespace, name)!r}") from None
    return result


def events(core: k8s.CoreV1Api, namespace: str, name: str) -> list[str]:
    """The reasons of the Events about the VideoJob, oldest first."""
    found = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}").items
    found.sort(key=lambda e: str(e.first_timestamp or e.event_time or e.metadata.creation_timestamp))
    return [str(e.reason) for e in found if e.involved_object.kind == "VideoJob"]


class ClubWorker(PodWorker):
    """One pod of the Club's video worker Deployment, run as a local process (fast encoder settings)."""

    def __init__(
        self, api: k8s.ApiClient, namespace: str, club: str, log: Path, *, burst: bool = False
    ) -> None:
        super().__init__(
            api,
            namespace,
            club,
            log,
            burst=burst,
            VIDEO_X264_PRESET="ultrafast",  # the tests' machine is small
            VIDEO_RETRY_INTERVALS_SEC="[1, 1]",
        )
