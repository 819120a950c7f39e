"""How long an HLS segment URL lives: the video's probed duration plus PRESIGN_TTL_SEC."""

from __future__ import annotations

from typing import Any

import pytest

from club_runtime.api.routes.playback import segment_ttl


@pytest.mark.parametrize(
    ("outputs", "ttl"),
    [
        ({"source": {"duration_sec": 5400.2}}, 300 + 5401),
        ({"source": {"duration_sec": 12}}, 300 + 12),
        ({}, 300),
        ({"source": {"duration_sec": None}}, 300),
        ({"source": {"duration_sec": "inf"}}, 300),
        ({"source": {"duration_sec": "not a number"}}, 300),
        ({"source": {"duration_sec": -5}}, 300),
    ],
)
def test_segment_urls_outlive_the_video(outputs: dict[str, Any], ttl: int) -> None:
    assert segment_ttl(300, outputs) == ttl
