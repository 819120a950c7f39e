"""The backup Job and the Club's backup CronJob: `club-runtime backup` from the club's runtime image.

One pod template serves both. It reads the club's rows as the club's own role (DATABASE_URL from the
club's database Secret) and writes them with the club's backup writer (BACKUP_S3_* from the backup
Secret, `<club>-backup`: a user that may put and get under `clubs/<club id>/` and delete nothing).
CLUB_ID is the tenant id; BACKUP_ID names the backup's folder and is the ClubBackup's name:
a Job made for a ClubBackup gets it as a value, a Job of the CronJob gets its own name (the
`job-name` label), which is the name of the ClubBackup the operator makes for it.

The container writes its JSON report (rows, compressedBytes, manifest, or `error`) to
/dev/termination-log, so the operator reads the result from the pod's terminated state: no log
scraping, no API access from the pod. A Job never retries (backoffLimit 0): a failed backup is
reported as failed, and the next one runs on schedule; activeDeadlineSeconds bounds a hung one.

The pods run where the club's other pods run (the same nodeSelector and tolerations), with the same
restricted security context, no service account token, and /tmp as a bounded emptyDir.

Pure: no I/O, no clock."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from club_operator import credentials, naming
from club_operator.backup_models import BackupTrigger
from club_operator.builders import pod
from club_operator.models import ClubSpec, Toleration

COMPONENT = "backup"
TRIGGER_LABEL = f"{naming.GROUP}/backup-trigger"
CONTAINER = "backup"
REPORT_FILE = "/dev/termination-log"
DEADLINE_SEC = 3 * 3600
"""The longest a backup may run before its Job is stopped (Failed, DeadlineExceeded)."""
TTL_AFTER_FINISHED_SEC = 24 * 3600
"""How long a finished Job and its pod (and its log) are kept; the ClubBackup keeps the result."""
HISTORY = 3
BACKUP_ID_MAX = 128  # club_runtime.backup.manifest.valid_backup_id
_JOB_NAME_MAX = 63  # a Job's name is also its pods' `job-name` label value

# Env var -> key of the backup Secret (`naming.ClubNames.backup_secret`).
BACKUP_SECRET_ENV = {
    "BACKUP_S3_ENDPOINT_URL": "endpoint",
    "BACKUP_S3_REGION": "region",
    "BACKUP_S3_BUCKET": "bucket",
    "BACKUP_S3_PREFIX": "prefix",
    "BACKUP_S3_ACCESS_KEY_ID": "accessKey",
    "BACKUP_S3_SECRET_ACCESS_KEY": "secretKey",
}


@dataclass(frozen=True)
class BackupInputs:
    """What the backup builders read: the Club's names and spec and the few facts the caller knows."""

    names: naming.ClubNames
    spec: ClubSpec
    owner: credentials.Owner
    """The Club: it owns the CronJob (its deletion removes the CronJob)."""
    image: str
    tenant_id: str
    node_selector: tuple[tuple[str, str], ...] = ()
    tolerations: tuple[Toleration, ...] = ()


@dataclass(frozen=True)
class BackupRef:
    """The ClubBackup a Job is made for."""

    name: str
    uid: str
    trigger: BackupTrigger = BackupTrigger.MANUAL
    api_version: str = f"{naming.GROUP}/{naming.VERSION}"

    def reference(self) -> dict[str, Any]:
        return {
            "apiVersion": self.api_version,
            "kind": "ClubBackup",
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def _bounded(name: str, limit: int) -> str:
    if len(name) <= limit:
        return name
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    return name[: limit - len(digest) - 1].rstrip("-.") + "-" + digest


def backup_id(name: str) -> str:
    """A ClubBackup's backup id: its name (a DNS subdomain is a valid id), cut with a digest when
    longer than an id may be."""
    return _bounded(name, BACKUP_ID_MAX)


def job_name(name: str) -> str:
    """The Job of the ClubBackup `name`: the same name, cut with a digest past 63 characters."""
    return _bounded(name, _JOB_NAME_MAX)


_NOT_IN_A_NAME = re.compile(r"[^a-z0-9-]+")


def requested_name(club: str, value: str, *, taken: bool = False) -> str:
    """The ClubBackup made for the backup-now annotation's `value`: `<club>-<value>`, the value made
    a DNS label (with a digest of it where that changed anything), at most 63 characters. `taken`:
    another Club's ClubBackup has that name (Club `a` asking for `b-x`, Club `a-b` for `x`), so this
    Club's gets a digest of its own name added."""
    cleaned = _NOT_IN_A_NAME.sub("-", value.lower()).strip("-")
    stem = f"{club}-{cleaned}" if cleaned else club
    if cleaned != value:
        stem = f"{stem}-{hashlib.sha256(value.encode()).hexdigest()[:8]}"
    if taken:
        stem = f"{stem}-{hashlib.sha256(club.encode()).hexdigest()[:8]}"
    return job_name(stem)


def schedule_suspended(spec: ClubSpec) -> bool:
    return spec.suspend or spec.backup.suspend


def _secret_env(env: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _env(inputs: BackupInputs, backup: str | None) -> list[dict[str, Any]]:
    names = inputs.names
    backup_env: dict[str, Any] = (
        {"name": "BACKUP_ID", "value": backup}
        if backup is not None
        else {"name": "BACKUP_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['job-name']"}}}
    )
    return [
        {"name": "CLUB_ID", "value": inputs.tenant_id},
        {"name": "CLUB_SLUG", "value": names.name},
        _secret_env("DATABASE_URL", names.database_secret, "dsn"),
        *(_secret_env(env, names.backup_secret, key) for env, key in BACKUP_SECRET_ENV.items()),
        backup_env,
    ]


def _pod_template(inputs: BackupInputs, backup: str | None, labels: dict[str, str]) -> dict[str, Any]:
    container = {
        "name": CONTAINER,
        "image": inputs.image,
        "imagePullPolicy": inputs.spec.runtime.image_pull_policy.value,
        "command": ["club-runtime", "backup", "--report-file", REPORT_FILE],
        "env": _env(inputs, backup),
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"memory": "512Mi"},
        },
        "terminationMessagePath": REPORT_FILE,
        "terminationMessagePolicy": "File",
        "securityContext": pod.container_security_context(),
        "volumeMounts": [{"name": pod.TMP_VOLUME, "mountPath": "/tmp"}],  # noqa: S108 - an emptyDir
    }
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod.pod_security_context(),
        "containers": [container],
        "volumes": [pod.scratch_volume("1Gi")],
    }
    if inputs.node_selector:
        spec["nodeSelector"] = dict(inputs.node_selector)
    if inputs.tolerations:
        spec["tolerations"] = [t.to_dict() for t in inputs.tolerations]
    return {"metadata": {"labels": labels}, "spec": spec}


def _job_spec(inputs: BackupInputs, backup: str | None, labels: dict[str, str]) -> dict[str, Any]:
    return {
        "backoffLimit": 0,
        "activeDeadlineSeconds": DEADLINE_SEC,
        "ttlSecondsAfterFinished": TTL_AFTER_FINISHED_SEC,
        "template": _pod_template(inputs, backup, labels),
    }


def job_labels(inputs: BackupInputs, trigger: BackupTrigger) -> dict[str, str]:
    return {**inputs.names.labels(COMPONENT), TRIGGER_LABEL: trigger.value.lower()}


def build_job(inputs: BackupInputs, backup: BackupRef) -> dict[str, Any]:
    """The Job that takes the backup `backup` (a ClubBackup, which owns the Job)."""
    labels = job_labels(inputs, backup.trigger)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": job_name(backup.name),
            "namespace": inputs.names.namespace,
            "labels": labels,
            "ownerReferences": [backup.reference()],
        },
        "spec": _job_spec(inputs, backup_id(backup.name), labels),
    }


def build_cronjob(inputs: BackupInputs, *, secrets_ready: bool = True) -> dict[str, Any]:
    """The Club's backup CronJob on spec.backup.schedule (UTC); suspended while the Club or its
    backups are, and until the Secrets its Jobs read exist (`secrets_ready`): a Job whose pod
    waits for a Secret would hold the schedule (Forbid) until its deadline. The operator makes a
    ClubBackup for every Job it starts."""
    labels = job_labels(inputs, BackupTrigger.SCHEDULED)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {
            "name": inputs.names.backup_cronjob,
            "namespace": inputs.names.namespace,
            "labels": inputs.names.labels(COMPONENT),
            "ownerReferences": [inputs.owner.reference()],
        },
        "spec": {
            "schedule": inputs.spec.backup.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "suspend": schedule_suspended(inputs.spec) or not secrets_ready,
            "startingDeadlineSeconds": 600,
            "successfulJobsHistoryLimit": HISTORY,
            "failedJobsHistoryLimit": HISTORY,
            "jobTemplate": {"metadata": {"labels": labels}, "spec": _job_spec(inputs, None, labels)},
        },
    }
