"""Invalid Club and VideoJob manifests are refused by the real API server (schema, enums, patterns,
CEL rules) with a 422 whose message names the field and says what is wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from kubernetes import client as k8s

from tests.conftest import unique_name
from tests.support import crds


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and key in out else value
    return out


MINIMAL_CLUB = {"displayName": "Riverside FC"}
MINIMAL_JOB = {"clubRef": {"name": "riverside-fc"}, "source": {"key": "uploads/match.mp4"}}
GPU = {"enabled": True, "count": 1}
TOLERATION = {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"}
VIDEO_GPU = "workers.video.gpu"
ROTATION = "secrets.rotation"
CLIP = {"name": "goal", "start": 10, "end": 20}


def bad(at: str, value: Any, field: str, words: str, *, id: str) -> Any:
    """A case: put `value` at the dotted path `at` of a minimal spec; the server's message must name
    spec.`field` and say `words`."""
    for key in reversed(at.split(".")):
        value = {key: value}
    return pytest.param(value, f"spec.{field}", words, id=id)


def _tolerating(**toleration: Any) -> dict[str, Any]:
    return {**GPU, "tolerations": [{**TOLERATION, **toleration}]}


INVALID_CLUBS = [
    bad("displayName", "", "displayName", "at least 1 chars long", id="empty-name"),
    bad("runtime.imagePullPolicy", "Sometimes", "runtime.imagePullPolicy", "Unsupported value", id="pull"),
    bad("api.replicas", -1, "api.replicas", "greater than or equal to 0", id="api-replicas"),
    bad(
        "api.resources",
        {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}},
        "api.resources",
        "requests must not exceed limits",
        id="requests-over-limits",
    ),
    bad(
        "workers.video.resources",
        {"requests": {"cpu": 3}, "limits": {"cpu": 2}},  # quantities may be integers too
        "workers.video.resources",
        "requests must not exceed limits",
        id="integer-requests-over-limits",
    ),
    bad(
        "api.resources.requests.memory", "lots", "api.resources.requests.memory", "should match", id="memory"
    ),
    bad(
        "api.autoscaling",
        {"minReplicas": 6, "maxReplicas": 3},
        "api.autoscaling.minReplicas",
        "minReplicas must not exceed maxReplicas",
        id="api-min-over-max",
    ),
    bad(
        "api.autoscaling.targetCPUUtilizationPercentage",
        150,
        "api.autoscaling.targetCPUUtilizationPercentage",
        "less than or equal to 100",
        id="cpu-target",
    ),
    bad(
        "database.isolation",
        "separate",
        "database.isolation",
        'Unsupported value: "separate"',
        id="isolation",
    ),
    bad(
        "database",
        {"isolation": "dedicated", "sharedDatabaseName": "pool"},
        "database.sharedDatabaseName",
        "only allowed with isolation shared",
        id="dedicated-with-pool",
    ),
    bad(
        "database.serverSecretRef",
        {"key": "dsn"},
        "database.serverSecretRef.name",
        "Required value",
        id="ref",
    ),
    bad("storage.bucket", "My_Bucket", "storage.bucket", "should match", id="bucket-case"),
    bad("storage.bucket", "club..media", "storage.bucket", "must not contain '..'", id="bucket-dots"),
    bad("storage.bucket", "10.0.0.1", "storage.bucket", "look like an IP address", id="bucket-ip"),
    bad("storage.quota", "50GB", "storage.quota", "should match", id="quota-unit"),
    bad("storage.quota", "0", "storage.quota", "greater than zero", id="quota-zero"),
    bad(
        "storage.temporaryObjectsExpireDays",
        0,
        "storage.temporaryObjectsExpireDays",
        "greater than or equal to 1",
        id="lifecycle-days",
    ),
    bad(
        "storage.noncurrentVersionExpireDays",
        0,
        "storage.noncurrentVersionExpireDays",
        "greater than or equal to 1",
        id="noncurrent-days",
    ),
    bad(
        "workers.video",
        {"minReplicas": 5, "maxReplicas": 2},
        "workers.video.maxReplicas",
        "minReplicas must not exceed maxReplicas",
        id="video-min-over-max",
    ),
    bad(
        "workers.default.maxReplicas",
        0,
        "workers.default.maxReplicas",
        "greater than or equal to 1",
        id="max-zero",
    ),
    bad(
        "workers.default.targetQueueLength",
        0,
        "workers.default.targetQueueLength",
        "greater than or equal to 1",
        id="queue",
    ),
    bad(VIDEO_GPU, {**GPU, "count": 0}, f"{VIDEO_GPU}.count", "at least 1 when enabled", id="gpu-count"),
    bad(
        VIDEO_GPU, {**GPU, "resourceName": "gpu"}, f"{VIDEO_GPU}.resourceName", "should match", id="gpu-name"
    ),
    bad(
        VIDEO_GPU,
        _tolerating(operator="Exists"),
        f"{VIDEO_GPU}.tolerations[0].value",
        "value must be empty when operator is Exists",
        id="toleration-exists-value",
    ),
    bad(
        VIDEO_GPU,
        _tolerating(key=""),
        f"{VIDEO_GPU}.tolerations[0].operator",
        "operator must be Exists when key is empty",
        id="toleration-no-key",
    ),
    bad(
        "workers.default.gpu",
        _tolerating(tolerationSeconds=30),
        "workers.default.gpu.tolerations[0].tolerationSeconds",
        "needs effect NoExecute",
        id="toleration-seconds",
    ),
    bad(
        VIDEO_GPU,
        _tolerating(effect="Never"),
        f"{VIDEO_GPU}.tolerations[0].effect",
        "Unsupported value",
        id="toleration-effect",
    ),
    bad("backup.schedule", "every day", "backup.schedule", "should match", id="cron"),
    bad("backup.schedule", "61 * * * *", "backup.schedule", "minute 0-59", id="cron-minute"),
    bad("backup.schedule", "0 3 * * * *", "backup.schedule", "five fields a CronJob accepts", id="cron-six"),
    bad("backup.schedule", "0 3 * * 7", "backup.schedule", "day of week 0-6 or SUN-SAT", id="cron-weekday"),
    bad(
        "backup.retention",
        {"count": 7, "days": 30},
        "backup.retention",
        "set exactly one of retention.count or retention.days",
        id="retention-both",
    ),
    bad("backup.retention", {}, "backup.retention", "set exactly one of", id="retention-none"),
    bad(
        f"{ROTATION}.jwtSigningKeyInterval",
        "30d",
        f"{ROTATION}.jwtSigningKeyInterval",
        "should match",
        id="duration-days",
    ),
    bad(
        f"{ROTATION}.databasePasswordInterval",
        "30m",
        f"{ROTATION}.databasePasswordInterval",
        "must be at least 1h",
        id="interval-too-short",
    ),
    bad(
        f"{ROTATION}.overlap",
        "800h",
        f"{ROTATION}.overlap",
        "overlap must be shorter than jwtSigningKeyInterval",
        id="overlap-too-long",
    ),
    bad("deletionPolicy", "Orphan", "deletionPolicy", 'Unsupported value: "Orphan"', id="deletion-policy"),
    bad("suspend", "yes", "suspend", "must be of type boolean", id="suspend-string"),
]


@pytest.mark.parametrize(("override", "field", "words"), INVALID_CLUBS)
def test_invalid_clubs_are_refused_naming_the_field(
    custom: k8s.CustomObjectsApi, namespace: str, override: dict[str, Any], field: str, words: str
) -> None:
    body = crds.manifest("Club", _merge(MINIMAL_CLUB, override), unique_name("club"))
    message = crds.rejection(lambda: crds.create(custom, namespace, body, dry_run=True))
    assert f"{field}:" in message
    assert words in message


def test_a_club_without_display_name_is_refused(custom: k8s.CustomObjectsApi, namespace: str) -> None:
    body = crds.manifest("Club", {}, unique_name("club"))
    message = crds.rejection(lambda: crds.create(custom, namespace, body, dry_run=True))
    assert "spec.displayName: Required value" in message


INVALID_JOBS = [
    bad("outputs.clips", [{**CLIP, "end": 5}], "outputs.clips[0].end", "end must be after start", id="clip"),
    bad("outputs.clips", [CLIP, CLIP], "outputs.clips[1]", "Duplicate value", id="clip-names"),
    bad("outputs.renditions", ["4k"], "outputs.renditions[0]", 'Unsupported value: "4k"', id="rendition"),
    bad("outputs.renditions", ["720p", "720p"], "outputs.renditions[1]", "Duplicate value", id="twice"),
    bad("outputs.renditions", [], "outputs.renditions", "should have at least 1 items", id="no-ladder"),
    bad("source.key", "/etc/passwd", "source.key", "should match", id="absolute-key"),
    bad("source.key", "a/../b.mp4", "source.key", "must not contain '.' or '..' segments", id="dot-dot"),
    bad("priority", "urgent", "priority", "Unsupported value", id="priority"),
    bad("gpu", "maybe", "gpu", "Unsupported value", id="gpu-mode"),
    bad("deadlineSeconds", 0, "deadlineSeconds", "greater than or equal to 1", id="deadline"),
]


@pytest.mark.parametrize(("override", "field", "words"), INVALID_JOBS)
def test_invalid_video_jobs_are_refused_naming_the_field(
    custom: k8s.CustomObjectsApi, namespace: str, override: dict[str, Any], field: str, words: str
) -> None:
    body = crds.manifest("VideoJob", _merge(MINIMAL_JOB, override), unique_name("vj"))
    message = crds.rejection(lambda: crds.create(custom, namespace, body, dry_run=True))
    assert f"{field}:" in message
    assert words in message


@pytest.mark.parametrize("name", ["river.side", "1st-fc", "a" * 64], ids=["dot", "digit-first", "64-chars"])
def test_a_club_name_the_operator_cannot_carry_is_refused(
    custom: k8s.CustomObjectsApi, namespace: str, name: str
) -> None:
    body = crds.manifest("Club", MINIMAL_CLUB, name)
    message = crds.rejection(lambda: crds.create(custom, namespace, body, dry_run=True))
    assert "metadata.name" in message
    if len(name) > 63:  # the schema's maxLength answers first
        assert "63" in message
        return
    assert "metadata.name must be at most 63 characters of lowercase letters, digits and '-'" in message
    assert "Service, Deployments and labels are named after it" in message


def test_the_longest_club_name_is_accepted(custom: k8s.CustomObjectsApi, namespace: str) -> None:
    name = "a" + "-b" * 31  # 63 characters
    created = crds.create(custom, namespace, crds.manifest("Club", MINIMAL_CLUB, name), dry_run=True)
    assert created["metadata"]["name"] == name
