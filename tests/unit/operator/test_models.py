"""The spec models parse every sample, carry the CRD's defaults, and stay in step with crds/."""

from __future__ import annotations

import copy
import enum
import types
import typing
from datetime import timedelta
from typing import Any

import pydantic
import pytest
from pydantic import BaseModel, TypeAdapter

from club_operator import backup_models, models, videojob_models
from tests.support import crds

SPEC_MODELS: dict[str, type[BaseModel]] = {
    "Club": models.ClubSpec,
    "VideoJob": videojob_models.VideoJobSpec,
    "ClubBackup": backup_models.ClubBackupSpec,
    "ClubRestore": backup_models.ClubRestoreSpec,
}
PHASES: dict[str, type[enum.StrEnum]] = {
    "Club": models.ClubPhase,
    "VideoJob": videojob_models.VideoJobPhase,
    "ClubBackup": backup_models.BackupPhase,
    "ClubRestore": backup_models.RestorePhase,
}
JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}


def apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """What the API server's structural defaulting does to `value`: fill in missing properties that
    have a default, then default inside them too."""
    if isinstance(value, dict):
        for name, sub in schema.get("properties", {}).items():
            if name not in value and "default" in sub:
                value[name] = copy.deepcopy(sub["default"])
            if name in value:
                value[name] = apply_defaults(sub, value[name])
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            value = {k: apply_defaults(extra, v) for k, v in value.items()}
    elif isinstance(value, list) and "items" in schema:
        value = [apply_defaults(schema["items"], v) for v in value]
    return value


def prune_empty(value: Any) -> Any:
    """Drop empty lists and maps: the models default absent collections to empty ones."""
    if isinstance(value, dict):
        pruned = {k: prune_empty(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [])}
    if isinstance(value, list):
        return [prune_empty(v) for v in value]
    return value


def _spec_schema(kind: str) -> dict[str, Any]:
    spec: dict[str, Any] = crds.openapi_schema(kind)["properties"]["spec"]
    return spec


def _dump(annotation: Any, value: Any) -> Any:
    return TypeAdapter(annotation).dump_python(value, mode="json", by_alias=True, exclude_none=True)


def _unwrap(annotation: Any) -> Any:
    """`X | None` -> X; Annotated[X, ...] -> X."""
    if typing.get_origin(annotation) is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        (inner,) = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _unwrap(inner)
    return annotation


def _check_type(schema: dict[str, Any], annotation: Any, path: str, problems: list[str]) -> None:
    """Compare a schema node with a model annotation, recursively; collect differences."""
    target = _unwrap(annotation)
    origin = typing.get_origin(target)
    if isinstance(target, type) and issubclass(target, BaseModel):
        _check_model(schema, target, path, problems)
    elif origin is tuple:
        if schema.get("type") != "array":
            problems.append(f"{path}: model has a list, CRD has {schema.get('type')}")
            return
        _check_type(schema["items"], typing.get_args(target)[0], f"{path}[]", problems)
    elif origin is dict:
        if not isinstance(schema.get("additionalProperties"), dict):
            problems.append(f"{path}: model has a map, CRD has no additionalProperties")
            return
        _check_type(schema["additionalProperties"], typing.get_args(target)[1], f"{path}{{}}", problems)
    elif isinstance(target, type) and issubclass(target, enum.Enum):
        if schema.get("enum") != [e.value for e in target]:
            problems.append(f"{path}: enum {schema.get('enum')} != model {[e.value for e in target]}")
    elif schema.get("x-kubernetes-int-or-string"):
        if annotation != models.Quantity and _unwrap(annotation) is not str:
            problems.append(f"{path}: int-or-string in the CRD, {annotation} in the model")
    elif JSON_TYPES.get(target) != schema.get("type"):
        problems.append(f"{path}: CRD type {schema.get('type')} != model {target}")


def _check_model(schema: dict[str, Any], model: type[BaseModel], path: str, problems: list[str]) -> None:
    fields = {(field.alias or name): field for name, field in model.model_fields.items()}
    properties: dict[str, Any] = schema.get("properties", {})
    for missing in sorted(set(properties) - set(fields)):
        problems.append(f"{path}.{missing}: in the CRD, not in {model.__name__}")
    for extra in sorted(set(fields) - set(properties)):
        problems.append(f"{path}.{extra}: in {model.__name__}, not in the CRD")
    required = {alias for alias, field in fields.items() if field.is_required()}
    if required != set(schema.get("required", [])):
        problems.append(f"{path}: required {sorted(schema.get('required', []))} != model {sorted(required)}")
    for alias in sorted(set(properties) & set(fields)):
        field, sub = fields[alias], properties[alias]
        where = f"{path}.{alias}"
        _check_type(sub, field.annotation, where, problems)
        if field.is_required():
            continue
        default = _dump(field.annotation, field.get_default(call_default_factory=True))
        if "default" in sub:
            expected = apply_defaults(sub, copy.deepcopy(sub["default"]))
            if prune_empty(default) != prune_empty(expected):
                problems.append(f"{where}: CRD default {expected} != model default {default}")
        elif default not in (None, [], {}):
            problems.append(f"{where}: model default {default!r}, CRD has none")


@pytest.mark.parametrize("kind", sorted(SPEC_MODELS))
def test_models_and_crds_have_the_same_fields_types_and_defaults(kind: str) -> None:
    problems: list[str] = []
    _check_model(_spec_schema(kind), SPEC_MODELS[kind], "spec", problems)
    assert problems == []


@pytest.mark.parametrize("kind", sorted(PHASES))
def test_phase_enums_match_the_status_schema(kind: str) -> None:
    status = crds.openapi_schema(kind)["properties"]["status"]
    assert status["properties"]["phase"]["enum"] == [p.value for p in PHASES[kind]]


def _nodes(schema: dict[str, Any], path: str) -> typing.Iterator[tuple[str, dict[str, Any]]]:
    yield path, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _nodes(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _nodes(schema["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize("kind", sorted(SPEC_MODELS))
def test_every_schema_field_has_a_description(kind: str) -> None:
    nodes = _nodes(crds.openapi_schema(kind), kind)
    # The API server allows nothing on `metadata` but name and generateName restrictions.
    metadata = (f"{kind}.metadata", f"{kind}.metadata.name")
    undocumented = [p for p, node in nodes if not node.get("description") and p not in metadata]
    assert undocumented == []


@pytest.mark.parametrize("path", crds.sample_files(), ids=lambda p: p.name)
def test_every_sample_parses_to_what_the_api_server_would_store(path: Any) -> None:
    manifest = crds.load_sample(path.name)
    model = SPEC_MODELS[manifest["kind"]]
    parsed = model.model_validate(manifest["spec"])
    stored = apply_defaults(_spec_schema(manifest["kind"]), copy.deepcopy(manifest["spec"]))
    assert prune_empty(_dump(model, parsed)) == prune_empty(stored)


def test_the_samples_cover_the_issue() -> None:
    names = {p.name for p in crds.sample_files()}
    assert {"club-minimal.yaml", "club-full.yaml", "club-gpu.yaml", "club-dedicated.yaml"} <= names
    assert "videojob.yaml" in names


def _set_paths(schema: dict[str, Any], value: Any, path: str = "") -> set[str]:
    paths = {path} if path else set()
    if isinstance(value, dict) and "properties" in schema:
        for name, sub in value.items():
            paths |= _set_paths(schema["properties"][name], sub, f"{path}.{name}")
    return paths


def test_the_full_sample_sets_every_spec_field() -> None:
    schema = _spec_schema("Club")
    every = {p.removeprefix("spec") for p, _ in _nodes(schema, "spec") if p != "spec"}
    every = {p for p in every if "[]" not in p and "{}" not in p}
    # A CEL rule allows only one of retention.count and retention.days; the sample sets days.
    every.discard(".backup.retention.count")
    # A bootstrap needs another Club's backup to exist first: README shows it, not a sample.
    every -= {p for p in every if p.startswith(".bootstrap")}
    assert every - _set_paths(schema, crds.load_sample("club-full.yaml")["spec"]) == set()


def test_minimal_club_gets_the_defaults() -> None:
    club = models.ClubSpec.model_validate({"displayName": "Riverside FC"})
    assert club.display_name == "Riverside FC"
    assert club.runtime.image is None
    assert club.database.isolation is models.Isolation.SHARED
    assert not club.database.dedicated
    assert club.deletion_policy is models.DeletionPolicy.RETAIN
    assert not club.deletes_data
    assert club.storage.quota_bytes is None
    assert club.storage.temporary_objects_expire_days == 7
    assert club.workers.default.min_replicas == 1
    assert club.workers.video.min_replicas == 0
    assert club.workers.video.gpu.resource_name == "nvidia.com/gpu"
    assert not club.needs_gpu
    assert club.backup.retention == models.BackupRetention(count=7)
    assert club.backup.verify is True
    assert club.secrets.rotation.jwt_signing_key_period == timedelta(days=30)
    assert club.secrets.rotation.database_password_period == timedelta(days=90)
    assert club.secrets.rotation.overlap_period == timedelta(hours=24)
    assert club.api.resources.to_k8s() == {
        "requests": {"cpu": "100m", "memory": "256Mi"},
        "limits": {"memory": "512Mi"},
    }


def test_gpu_sample_derives_the_video_worker_resources() -> None:
    club = models.ClubSpec.model_validate(crds.load_sample("club-gpu.yaml")["spec"])
    assert club.needs_gpu
    video = club.workers.video
    assert video.container_resources == {
        "requests": {"cpu": "1", "memory": "1Gi"},
        "limits": {"memory": "4Gi", "nvidia.com/gpu": "1"},
    }
    assert video.gpu.node_selector == {"nvidia.com/gpu.present": "true"}
    (toleration,) = video.gpu.tolerations
    assert (toleration.key, toleration.operator, toleration.value, toleration.effect) == (
        "nvidia.com/gpu",
        models.TolerationOperator.EQUAL,
        "present",
        models.TaintEffect.NO_SCHEDULE,
    )
    assert club.workers.default.gpu.limits == {}


def test_dedicated_and_full_samples() -> None:
    dedicated = models.ClubSpec.model_validate(crds.load_sample("club-dedicated.yaml")["spec"])
    assert dedicated.database.dedicated
    assert dedicated.storage.quota_bytes == 200 * 1024**3
    full = models.ClubSpec.model_validate(crds.load_sample("club-full.yaml")["spec"])
    assert full.deletes_data
    assert full.database.server_secret_ref == models.SecretKeyRef(name="postgres-admin", key="dsn")
    assert full.backup.retention == models.BackupRetention(days=30)
    assert full.api.autoscaling.target_cpu_utilization_percentage == 70


def test_models_accept_snake_case_names_and_integer_quantities_and_ignore_unknown_fields() -> None:
    club = models.ClubSpec.model_validate(
        {
            "display_name": "FC",
            "api": {"resources": {"requests": {"cpu": 2, "memory": "1Gi"}}},
            "fieldFromANewerCrd": True,
        }
    )
    assert club.api.resources.to_k8s() == {"requests": {"cpu": "2", "memory": "1Gi"}}
    with pytest.raises(pydantic.ValidationError):
        club.suspend = True  # type: ignore[misc]


@pytest.mark.parametrize(
    "bad", [{"displayName": "FC", "database": {"isolation": "separate"}}, {"deletionPolicy": "Retain"}]
)
def test_models_reject_wrong_enums_and_missing_required_fields(bad: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        models.ClubSpec.model_validate(bad)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("720h", timedelta(hours=720)), ("1h30m", timedelta(minutes=90)), ("1.5h", timedelta(minutes=90))],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    assert models.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "10", "5d", "1h 30m", "h"])
def test_parse_duration_rejects_what_the_crd_pattern_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="not a duration"):
        models.parse_duration(text)


@pytest.mark.parametrize(
    ("text", "expected"), [("50Gi", 50 * 1024**3), ("1Ti", 1024**4), ("2G", 2 * 10**9), ("1", 1)]
)
def test_quantity_in_bytes(text: str, expected: int) -> None:
    assert models.StorageSpec(quota=text).quota_bytes == expected


def test_videojob_sample_and_defaults() -> None:
    job = videojob_models.VideoJobSpec.model_validate(crds.load_sample("videojob.yaml")["spec"])
    assert job.club_ref.name == "riverside-fc"
    assert [c.duration for c in job.outputs.clips] == [18.5, 19]
    assert job.deadline == timedelta(hours=1)
    minimal = videojob_models.VideoJobSpec.model_validate(
        {"clubRef": {"name": "c"}, "source": {"key": "a.mp4"}}
    )
    assert minimal.outputs.renditions == (
        videojob_models.Rendition.P720,
        videojob_models.Rendition.P480,
        videojob_models.Rendition.P360,
    )
    assert minimal.outputs.thumbnails
    assert minimal.priority is videojob_models.Priority.NORMAL
    assert minimal.gpu is videojob_models.GpuMode.AUTO
    assert minimal.ttl_seconds_after_finished is None


def test_rendition_ladder_is_ordered_highest_first() -> None:
    outputs = videojob_models.VideoOutputs.model_validate({"renditions": ["360p", "1080p", "480p"]})
    assert [r.height for r in outputs.ladder] == [1080, 480, 360]
    assert videojob_models.VideoJobPhase.FAILED.finished
    assert not videojob_models.VideoJobPhase.RUNNING.finished


def test_database_limits_become_role_settings_in_postgres_units() -> None:
    limits = models.DatabaseLimits.model_validate(
        {"statementTimeout": "1m30s", "idleInTransactionSessionTimeout": "2s", "tempFileLimit": "1Mi"}
    )
    assert dict(limits.role_settings) == {
        "statement_timeout": "90000",
        "idle_in_transaction_session_timeout": "2000",
        "temp_file_limit": "1024",
    }
    assert models.ClubSpec.model_validate({"displayName": "X"}).database.limits.connection_limit == 50
