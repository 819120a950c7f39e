"""The backup Job and CronJob: `club-runtime backup` with the club's credentials by reference, the
backup id the ClubBackup's name, placed and secured like the club's other pods."""

from __future__ import annotations

from typing import Any

import pytest

from club_operator import credentials, naming
from club_operator.backup_models import BackupTrigger
from club_operator.builders import backup_job
from club_operator.builders.backup_job import BackupInputs, BackupRef
from club_operator.models import ClubSpec, Toleration
from club_runtime.backup.manifest import valid_backup_id
from tests.support import crds

UID = "0b5e8c7e-0000-4000-8000-000000000042"
TENANT = "6f1c9a52-0000-4000-8000-000000000001"
NAMESPACE = "team-a"


def inputs(spec: dict[str, Any] | None = None, **overrides: Any) -> BackupInputs:
    manifest = crds.load_sample("club-full.yaml")
    parsed = ClubSpec.model_validate({**manifest["spec"], **(spec or {})})
    name = manifest["metadata"]["name"]
    fields: dict[str, Any] = {
        "names": naming.build_names(NAMESPACE, name, parsed, "clubs"),
        "spec": parsed,
        "owner": credentials.Owner(f"{naming.GROUP}/{naming.VERSION}", "Club", name, UID),
        "image": "registry.example/club-runtime:1.2.3",
        "tenant_id": TENANT,
        "node_selector": (("pool", "clubs"),),
        "tolerations": (Toleration(key="dedicated", operator="Equal", value="clubs", effect="NoSchedule"),),
    }
    return BackupInputs(**(fields | overrides))


def _env(pod_spec: dict[str, Any]) -> dict[str, Any]:
    (container,) = pod_spec["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_the_job_backs_up_the_club_as_its_own_role_into_the_backup_writers_folder() -> None:
    made = inputs()
    names = made.names
    job = backup_job.build_job(made, BackupRef("nightly-1", "b-uid"))
    assert job["metadata"]["name"] == "nightly-1"
    assert job["metadata"]["ownerReferences"][0] | {} == {
        "apiVersion": "footballclub.io/v1alpha1",
        "kind": "ClubBackup",
        "name": "nightly-1",
        "uid": "b-uid",
        "controller": True,
        "blockOwnerDeletion": True,
    }
    pod = job["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["club-runtime", "backup", "--report-file", "/dev/termination-log"]
    assert container["image"] == "registry.example/club-runtime:1.2.3"
    assert container["terminationMessagePath"] == "/dev/termination-log"
    env = _env(pod)
    assert env["CLUB_ID"] == TENANT
    assert env["BACKUP_ID"] == "nightly-1"
    assert env["DATABASE_URL"] == {"secretKeyRef": {"name": names.database_secret, "key": "dsn"}}
    # Every backup setting from the backup writer's Secret, none from the club's runtime Secret.
    for var, key in backup_job.BACKUP_SECRET_ENV.items():
        assert env[var] == {"secretKeyRef": {"name": names.backup_secret, "key": key}}
    secrets_read = {v["secretKeyRef"]["name"] for v in env.values() if isinstance(v, dict)}
    assert secrets_read == {names.database_secret, names.backup_secret}


def test_the_job_runs_once_bounded_and_cleaned_up() -> None:
    spec = backup_job.build_job(inputs(), BackupRef("b", "u"))["spec"]
    assert spec["backoffLimit"] == 0
    assert spec["activeDeadlineSeconds"] == backup_job.DEADLINE_SEC
    assert spec["ttlSecondsAfterFinished"] == backup_job.TTL_AFTER_FINISHED_SEC
    assert spec["template"]["spec"]["restartPolicy"] == "Never"


def test_the_pod_is_placed_and_secured_like_the_clubs_other_pods() -> None:
    pod = backup_job.build_job(inputs(), BackupRef("b", "u"))["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"pool": "clubs"}
    assert pod["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "clubs", "effect": "NoSchedule"}
    ]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}


def test_without_placement_the_pod_names_no_nodes() -> None:
    pod = backup_job.build_job(inputs(node_selector=(), tolerations=()), BackupRef("b", "u"))
    assert "nodeSelector" not in pod["spec"]["template"]["spec"]
    assert "tolerations" not in pod["spec"]["template"]["spec"]


def test_the_cronjob_runs_on_the_schedule_in_utc_one_at_a_time() -> None:
    made = inputs()
    cron = backup_job.build_cronjob(made)
    assert cron["metadata"]["name"] == f"{made.names.name}-backup"
    assert cron["metadata"]["ownerReferences"] == [made.owner.reference()]
    spec = cron["spec"]
    assert spec["schedule"] == made.spec.backup.schedule
    assert spec["timeZone"] == "Etc/UTC"
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["suspend"] is False
    labels = spec["jobTemplate"]["metadata"]["labels"]
    assert labels[naming.CLUB_LABEL] == made.names.name
    assert labels[backup_job.TRIGGER_LABEL] == "scheduled"
    # A scheduled Job's backup id is its own name: the name of the ClubBackup made for it.
    env = _env(spec["jobTemplate"]["spec"]["template"]["spec"])
    assert env["BACKUP_ID"] == {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}


@pytest.mark.parametrize(
    "spec",
    [{"suspend": True}, {"backup": {"schedule": "0 3 * * *", "suspend": True}}],
    ids=["club suspended", "backups suspended"],
)
def test_the_cronjob_is_suspended_with_the_club_or_its_backups(spec: dict[str, Any]) -> None:
    assert backup_job.build_cronjob(inputs(spec))["spec"]["suspend"] is True


def test_manual_and_annotation_jobs_say_what_triggered_them() -> None:
    made = inputs()
    job = backup_job.build_job(made, BackupRef("b", "u", BackupTrigger.ANNOTATION))
    assert job["metadata"]["labels"][backup_job.TRIGGER_LABEL] == "annotation"
    assert job["spec"]["template"]["metadata"]["labels"][naming.CLUB_LABEL] == made.names.name


def test_every_clubbackup_name_maps_to_a_valid_backup_id_and_job_name() -> None:
    longest = "a" * 200 + ".b" * 26  # a DNS subdomain of 252 characters
    for name in ("x", "nightly-2026-12-02", "v1.2.3", "a" * 63, "a" * 64, longest):
        assert valid_backup_id(backup_job.backup_id(name)) == backup_job.backup_id(name)
        assert len(backup_job.job_name(name)) <= 63
    assert backup_job.backup_id("nightly") == "nightly"
    assert backup_job.job_name("a" * 64) != backup_job.job_name("a" * 65)
    assert backup_job.backup_id(longest) != backup_job.backup_id(longest[:-1] + "c")


def test_the_cronjob_waits_for_the_secrets_its_jobs_read() -> None:
    assert backup_job.build_cronjob(inputs(), secrets_ready=False)["spec"]["suspend"] is True
