"""The platform's Grafana dashboards, written once in Python with grafana-foundation-sdk (its
builders make the JSON Grafana's dashboard schema expects): the runbook's four, API overview
(api.py), queue health (queues.py), database (database.py) and video pipeline (video.py), and a
fleet view of every Club (fleet.py). Their pieces are in panels.py.

`python -m club_operator.monitoring` writes each as JSON into the chart
(charts/club-operator/files/dashboards/<name>.json), which ships them as ConfigMaps for Grafana's
dashboard sidecar. The SDK is a dev dependency: only that command imports this package, never the
operator. Pure: no I/O."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import PurePath
from typing import Any

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from club_operator.monitoring.dashboards import api, database, fleet, queues, video

DIRECTORY = PurePath("charts/club-operator/files/dashboards")

BUILDERS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "api-overview": api.build,
    "queue-health": queues.build,
    "database": database.build,
    "video-pipeline": video.build,
    "fleet": fleet.build,
}
"""Each dashboard by the name of its file (<name>.json)."""


def text(name: str) -> str:
    """The dashboard's JSON, as the chart ships it."""
    return json.dumps(BUILDERS[name]().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def files() -> dict[PurePath, str]:
    """Every dashboard's file (under DIRECTORY) and its text."""
    return {DIRECTORY / f"{name}.json": text(name) for name in BUILDERS}


def documents() -> dict[str, dict[str, Any]]:
    """Every dashboard as the JSON document Grafana reads, by name."""
    return {name: json.loads(text(name)) for name in BUILDERS}
