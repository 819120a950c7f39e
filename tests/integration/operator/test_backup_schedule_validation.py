"""A spec.backup.schedule the CronJob's validation would refuse never reaches it, against the stack's
real API server: the operator's check (cron.py) answers exactly as the API server does for a CronJob;
what the Club CRD lets through and the API server would refuse, the operator reports as InvalidSpec
on the Club without applying a CronJob; most of it the CRD's own rule already refuses, naming the
field."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from club_operator.cron import schedule_problem
from tests.conftest import unique_name
from tests.integration.operator.conftest import RunningOperator
from tests.support import clubs, crds

# Accepted by the API server, refused by it, and accepted but never run (day 31 of February/April).
SCHEDULES = [
    "0 3 * * *",
    "*/15 * * * *",
    "0/5 * * * *",
    "*/61 * * * *",
    "007 * * * *",
    "0 0 1 JAN-DEC mon-FRI",
    "1,,2 * * * *",
    "? * ? * *",
    "@daily",
    "@midnight",
    "@every 1h",
    "61 * * * *",
    "* 24 * * *",
    "* * 0 * *",
    "* * 32 * *",
    "* * * 13 *",
    "* * * 0 *",
    "* * * * 7",
    "* * * * * *",
    "0 3 * *",
    "*/0 * * * *",
    "5-2 * * * *",
    "1-2-3 * * * *",
    "1/2/3 * * * *",
    "a * * * *",
    "* * * JANUARY *",
    "-1 * * * *",
    "*/* * * * *",
    "@often",
    "TZ=UTC 0 3 * * *",
    "0 3 * * TZ",
    "0 3 31 2,4 *",
]
NEVER_RUNS = {"0 3 31 2,4 *"}


def _cronjob_refusal(batch: k8s.BatchV1Api, namespace: str, schedule: str) -> str | None:
    """The API server's message refusing a CronJob (built as the operator builds one: UTC) on
    `schedule`, or None when it accepts it (a dry run: nothing is stored)."""
    body = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": unique_name("cron")},
        "spec": {
            "schedule": schedule,
            "timeZone": "Etc/UTC",
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "backup", "image": "club-runtime:dev"}],
                        }
                    }
                }
            },
        },
    }
    try:
        batch.create_namespaced_cron_job(namespace, body, dry_run="All")
    except ApiException as exc:
        if exc.status != 422:
            raise
        return str(json.loads(exc.body)["message"])
    return None


def _club_refusal(custom: k8s.CustomObjectsApi, namespace: str, schedule: str) -> str | None:
    body = crds.manifest("Club", {"displayName": "Cron FC", "backup": {"schedule": schedule}}, "cron-fc")
    try:
        crds.create(custom, namespace, body, dry_run=True)
    except ApiException as exc:
        if exc.status != 422:
            raise
        return str(json.loads(exc.body)["message"])
    return None


@pytest.fixture
def batch(kube_api: k8s.ApiClient) -> k8s.BatchV1Api:
    return k8s.BatchV1Api(kube_api)


def test_the_operators_check_answers_as_the_api_servers_cronjob_validation(
    batch: k8s.BatchV1Api, namespace: str
) -> None:
    disagreements = []
    for schedule in SCHEDULES:
        refusal = _cronjob_refusal(batch, namespace, schedule)
        problem = schedule_problem(schedule)
        if schedule in NEVER_RUNS:
            agree = refusal is None and problem is not None and problem.startswith("never runs")
        elif refusal is None:
            agree = problem is None
        else:  # refused by both, for the same reason in the same words
            agree = problem is not None and all(part in refusal for part in problem.split("; "))
        if not agree:
            disagreements.append((schedule, refusal, problem))
    assert disagreements == []


def test_what_the_crd_lets_through_the_operator_refuses(
    custom: k8s.CustomObjectsApi, batch: k8s.BatchV1Api, namespace: str
) -> None:
    through = []
    for schedule in SCHEDULES:
        refused_by_api = _cronjob_refusal(batch, namespace, schedule) is not None
        if refused_by_api and _club_refusal(custom, namespace, schedule) is None:
            through.append(schedule)
            assert schedule_problem(schedule) is not None, schedule
    # Only a range that runs backwards gets past the CRD's rule; cron.py catches it.
    assert through == ["5-2 * * * *"]


@pytest.mark.parametrize(
    "schedule", ["61 * * * *", "* 24 * * *", "* * * * * *", "*/0 * * * *", "* * * * 7", "* * 32 * *"]
)
def test_the_crd_refuses_out_of_range_fields_naming_the_field(
    custom: k8s.CustomObjectsApi, namespace: str, schedule: str
) -> None:
    message = _club_refusal(custom, namespace, schedule)
    assert message is not None
    assert "spec.backup.schedule:" in message
    assert "schedule must be five fields a CronJob accepts" in message


@pytest.mark.parametrize("schedule", ["0 3 * * *", "*/15 2-5 1,15 jan-jun MON-FRI", "@daily", "0 3 29 2 *"])
def test_the_crd_accepts_ordinary_schedules(
    custom: k8s.CustomObjectsApi, namespace: str, schedule: str
) -> None:
    assert _club_refusal(custom, namespace, schedule) is None


def test_a_schedule_past_the_crd_is_an_invalid_spec_and_no_cronjob_until_it_is_fixed(
    club_operator: RunningOperator,
    custom: k8s.CustomObjectsApi,
    core: k8s.CoreV1Api,
    batch: k8s.BatchV1Api,
    namespace: str,
) -> None:
    spec: dict[str, Any] = {"displayName": "Backwards FC", "backup": {"schedule": "5-2 * * * *"}}
    clubs.create_club(custom, namespace, crds.manifest("Club", spec, "backwards-fc"))

    club = clubs.wait_for(
        "the Club to fail",
        lambda: (
            (c := clubs.get_club(custom, namespace, "backwards-fc"))
            and (c.get("status") or {}).get("phase") == "Failed"
            and c
        ),
    )
    for type_ in ("Ready", "WorkloadsReady"):
        condition = clubs.condition(club, type_)
        assert condition is not None
        assert (condition["status"], condition["reason"]) == ("False", "InvalidSpec")
        assert "spec.backup.schedule '5-2 * * * *' cannot be used" in condition["message"]
        assert "beginning of range (5) beyond end of range (2)" in condition["message"]
    (event, *_) = clubs.wait_events(core, namespace, "backwards-fc", "InvalidSpec")
    assert event.type == "Warning"
    assert batch.list_namespaced_cron_job(namespace).items == []

    crds.patch(custom, namespace, "Club", "backwards-fc", {"spec": {"backup": {"schedule": "2-5 * * * *"}}})
    cronjob = clubs.wait_for(
        "the backup CronJob",
        lambda: next(iter(batch.list_namespaced_cron_job(namespace).items), None),
        timeout=club_operator.resync_sec * 10,
    )
    assert cronjob.spec.schedule == "2-5 * * * *"
