"""A Club as its VideoJobs see it: what a VideoJob needs to know of its Club (tenant id, bucket,
video queue, GPU workers, readiness), parsed from the Club's body as the Club watch delivers it, so
waiting on a Club costs no API call. Pure: no kopf, no Kubernetes, Redis or S3 client."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from club_operator import naming
from club_operator.models import ClubSpec
from club_operator.redis_target import queue_name


@dataclass(frozen=True)
class ClubView:
    """What a VideoJob needs to know of its Club, kept from the Club watch (no API call)."""

    uid: str
    name: str
    bucket: str
    video_queue: str
    gpu_workers: bool
    ready: bool
    spec: ClubSpec = field(compare=False)
    not_ready_message: str = ""


def parse(namespace: str, body: dict[str, Any], shared_database: str) -> ClubView | None:
    """The Club's view from its body; None when its spec does not parse (it is not Ready either)."""
    meta, status = body["metadata"], body.get("status") or {}
    try:
        spec = ClubSpec.model_validate(body.get("spec") or {})
    except ValueError:
        return None
    names = naming.build_names(
        namespace, meta["name"], spec, shared_database, provisioned_role=status.get("databaseRole")
    )
    ready = next((c for c in status.get("conditions") or [] if c.get("type") == "Ready"), None)
    is_ready = ready is not None and ready.get("status") == "True" and not spec.suspend
    if spec.suspend:
        message = "the Club is suspended"
    else:
        message = str((ready or {}).get("message") or (ready or {}).get("reason") or "")
    return ClubView(
        # The tenant id, as the runtime's CLUB_ID: the uid unless the Club adopted another's data.
        uid=str(status.get("tenantId") or meta["uid"]),
        name=meta["name"],
        bucket=names.bucket,
        video_queue=queue_name(namespace, meta["name"], "video"),
        gpu_workers=spec.workers.video.gpu.enabled,
        ready=is_ready,
        not_ready_message=message,
        spec=spec,
    )
