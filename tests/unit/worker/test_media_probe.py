"""ffprobe output parsing: usable sources become MediaInfo, unusable ones a clear reason."""

from __future__ import annotations

import json
from fractions import Fraction
from typing import Any

import pytest

from club_runtime.media.errors import InvalidMediaError
from club_runtime.media.probe import error_reason, parse_probe, refused_format

VIDEO: dict[str, Any] = {
    "codec_type": "video",
    "codec_name": "h264",
    "width": 1920,
    "height": 1080,
    "avg_frame_rate": "30000/1001",
    "r_frame_rate": "30000/1001",
}
AUDIO: dict[str, Any] = {"codec_type": "audio", "codec_name": "aac"}


def probe_json(streams: list[dict[str, Any]], **fmt: Any) -> str:
    return json.dumps({"streams": streams, "format": {"duration": "20.02", "size": "123", **fmt}})


def test_video_with_audio() -> None:
    info = parse_probe(probe_json([VIDEO, AUDIO]))
    assert (info.width, info.height, info.has_audio, info.video_codec) == (1920, 1080, True, "h264")
    assert info.frame_rate == Fraction(30000, 1001)
    assert info.duration_sec == pytest.approx(20.02)
    assert info.frame_sec == pytest.approx(1001 / 30000)


def test_falls_back_to_r_frame_rate_and_stream_duration() -> None:
    video = {**VIDEO, "avg_frame_rate": "0/0", "r_frame_rate": "25/1", "duration": "3.5"}
    info = parse_probe(json.dumps({"streams": [video], "format": {}}))
    assert info.frame_rate == 25
    assert info.duration_sec == 3.5
    assert not info.has_audio


@pytest.mark.parametrize(
    ("output", "reason"),
    [
        ("", "no video stream"),
        ("not json", "not JSON"),
        (probe_json([AUDIO]), "no video stream"),
        (probe_json([{**VIDEO, "disposition": {"attached_pic": 1}}, AUDIO]), "no video stream"),
        (probe_json([{**VIDEO, "width": 0}]), "no picture size"),
        (probe_json([{**VIDEO, "avg_frame_rate": "0/0", "r_frame_rate": "0/0"}]), "no frame rate"),
        (probe_json([VIDEO], duration="0.000000"), "empty or truncated"),
        (probe_json([VIDEO], duration="N/A"), "empty or truncated"),
    ],
)
def test_unusable_sources_say_why(output: str, reason: str) -> None:
    with pytest.raises(InvalidMediaError, match=reason):
        parse_probe(output)


def test_error_reason_drops_addresses_and_the_local_path() -> None:
    stderr = (
        "[mov,mp4,m4a,3gp,3g2,mj2 @ 0x55a9fab251c0] moov atom not found\n"
        "/srv/jobs/x/source: Invalid data found when processing input\n"
    )
    assert (
        error_reason(stderr, "/srv/jobs/x/source")
        == "moov atom not found; Invalid data found when processing input"
    )
    assert error_reason("", "/p") == "unreadable file"


@pytest.mark.parametrize("container", ["hls", "concat", "image2", "lavfi"])
def test_a_container_that_references_other_files_is_refused(container: str) -> None:
    with pytest.raises(InvalidMediaError, match="not a single video file"):
        parse_probe(probe_json([VIDEO], format_name=container))


@pytest.mark.parametrize("container", ["mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpegts", "avi"])
def test_video_containers_are_read(container: str) -> None:
    assert parse_probe(probe_json([VIDEO], format_name=container)).width == 1920


def test_a_format_refused_by_the_whitelist_is_recognised() -> None:
    assert refused_format("[hls @ 0x55] Format not on whitelist 'mov,matroska'\nx.m3u8: Invalid argument")
    assert not refused_format("[mov,mp4 @ 0x55] moov atom not found")
