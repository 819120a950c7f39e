"""A Club deleted with Retain and re-created with `spec.adopt` serves its old data through its API,
as its users would see it: the API runs as a process with the command, configuration and Secrets of
the `<club>-api` Deployment the operator made (hack/club_devstack/pod_worker.PodApi)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client as k8s

from club_devstack.pod_worker import PodApi
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

SEASON = {"name": "Season kept across Retain", "starts_on": "2026-07-01", "ends_on": "2027-06-30"}


@pytest.fixture
def apis(kube_api: k8s.ApiClient, tmp_path: Path) -> Iterator[Any]:
    started: list[PodApi] = []

    def start(namespace: str, club: str) -> PodApi:
        api = PodApi(kube_api, namespace, club, tmp_path / f"api-{len(started)}.log")
        started.append(api)
        api.wait_ready()
        return api

    yield start
    for api in started:
        api.stop()


def _login(api: PodApi, email: str, password: str) -> dict[str, str]:
    answer = httpx.post(
        f"{api.url}/api/v1/auth/login", json={"email": email, "password": password}, timeout=30
    )
    assert answer.status_code == 200, (answer.status_code, answer.text, api.tail())
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_a_club_recreated_with_adopt_serves_its_retained_data_through_its_api(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    namespace: str,
    apis: Any,
) -> None:
    name = "kept-fc"
    clubs.create_club(custom, namespace, crds.manifest("Club", {"displayName": "Kept FC"}, name))
    before = clubs.ready_status(custom, namespace, name)
    owner = clubs.secret_data(core, namespace, f"{name}-owner")
    api = apis(namespace, name)
    headers = _login(api, owner["email"], owner["password"])
    created = httpx.post(f"{api.url}/api/v1/seasons", json=SEASON, headers=headers, timeout=30)
    assert created.status_code == 201, created.text
    api.stop()

    clubs.delete_club(custom, namespace, name)
    spec = {"displayName": "Kept FC", "adopt": {"database": True, "bucket": True}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, name))
    after = clubs.ready_status(custom, namespace, name)
    assert (after["tenantId"], after["databaseRole"], after["bucket"]) == (
        before["tenantId"],
        before["databaseRole"],
        before["bucket"],
    )

    # The owner account came back with the data: its password is the one it had.
    api = apis(namespace, name)
    headers = _login(api, owner["email"], owner["password"])
    seasons = httpx.get(f"{api.url}/api/v1/seasons", headers=headers, timeout=30)
    assert seasons.status_code == 200, seasons.text
    assert [s["id"] for s in seasons.json()["items"]] == [created.json()["id"]]
    assert seasons.json()["items"][0]["name"] == SEASON["name"]

    crds.patch(custom, namespace, "Club", name, {"spec": {"deletionPolicy": "Delete"}})
    clubs.delete_club(custom, namespace, name)
