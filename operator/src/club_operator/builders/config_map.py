"""The `<club>-config` ConfigMap: the runtime's non-secret settings, read by every pod via envFrom.

Keys are the runtime's environment variables (club_runtime.settings, upper-cased field names).
Credentials never appear here: the pods read them from the Club's Secrets (see `pod.container_env`).
"""

from __future__ import annotations

from typing import Any

from club_operator.builders.inputs import CONFIG, WorkloadInputs

UPLOAD_MAX_SIZE_MB = 2048
LOG_LEVEL = "INFO"


def build_config_map(inputs: WorkloadInputs) -> dict[str, Any]:
    names = inputs.names
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": inputs.metadata(names.config_map, CONFIG),
        "data": {
            "CLUB_ID": inputs.tenant_id or inputs.owner.uid,
            "CLUB_SLUG": names.name,
            "QUEUE_DEFAULT": inputs.queue_default,
            "QUEUE_VIDEO": inputs.queue_video,
            "RQ_KEY_PREFIX": inputs.redis_prefix,
            "S3_BUCKET": names.bucket,
            "UPLOAD_MAX_SIZE_MB": str(UPLOAD_MAX_SIZE_MB),
            "VIDEO_PROCESS_TIMEOUT_SEC": str(inputs.video_timeout_sec),
            "LOG_LEVEL": LOG_LEVEL,
            "API_PORT": str(inputs.api_port),
            "WORKER_METRICS_PORT": str(inputs.worker_metrics_port),
        },
    }
