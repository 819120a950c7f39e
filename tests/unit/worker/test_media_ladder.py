"""The ladder plan: never upscale, keep aspect, even sizes; and the master playlist it yields."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from club_runtime.media import hls, ladder
from club_runtime.media.probe import MediaInfo


def media(width: int, height: int, *, audio: bool = True) -> MediaInfo:
    return MediaInfo(
        duration_sec=20.0,
        width=width,
        height=height,
        frame_rate=Fraction(25),
        video_codec="h264",
        has_audio=audio,
        size_bytes=1,
    )


def test_default_ladder_for_1080p_source() -> None:
    plan = ladder.plan_renditions(media(1920, 1080))
    assert [(r.name, r.width, r.height) for r in plan] == [
        ("720p", 1280, 720),
        ("480p", 854, 480),
        ("360p", 640, 360),
    ]


def test_oversized_request_for_360p_source_keeps_only_fitting_rungs() -> None:
    plan = ladder.plan_renditions(media(640, 360), ["1080p", "720p", "360p"])
    assert [(r.width, r.height) for r in plan] == [(640, 360)]


def test_every_rung_too_tall_serves_the_source_height() -> None:
    plan = ladder.plan_renditions(media(320, 240), ["720p", "480p"])
    assert [(r.name, r.width, r.height) for r in plan] == [("240p", 320, 240)]


def test_no_audio_means_no_audio_bitrate() -> None:
    assert all(r.audio_bitrate_k == 0 for r in ladder.plan_renditions(media(1280, 720, audio=False)))


@pytest.mark.parametrize("name", ["720", "p720", "720i", "", "99999p"])
def test_bad_rendition_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="rendition"):
        ladder.parse_height(name)


@given(
    width=st.integers(16, 4096),
    height=st.integers(16, 2160),
    requested=st.lists(st.sampled_from(["2160p", "1080p", "720p", "480p", "360p", "240p"]), min_size=1),
)
def test_plan_never_upscales_and_sizes_are_even(width: int, height: int, requested: list[str]) -> None:
    plan = ladder.plan_renditions(media(width, height), requested)
    assert plan
    for r in plan:
        assert r.height <= height
        assert r.width % 2 == 0
        assert r.height % 2 == 0
        assert r.video_bitrate_k > 0
        assert abs(r.width / r.height - width / height) <= 2 / r.height + 0.01 * width / height
    assert [r.height for r in plan] == sorted({r.height for r in plan}, reverse=True)


def test_master_playlist_lists_each_rendition_tallest_first() -> None:
    plan = ladder.plan_renditions(media(1920, 1080))
    text = hls.build_master_playlist(list(reversed(plan)), has_audio=True)
    assert text.startswith("#EXTM3U\n")
    assert hls.referenced_files(text) == ["720p/index.m3u8", "480p/index.m3u8", "360p/index.m3u8"]
    assert "RESOLUTION=1280x720" in text
    assert 'CODECS="avc1.640028,mp4a.40.2"' in text


def test_media_playlist_duration_and_segments() -> None:
    text = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6.000000,\nseg_00000.ts\n"
        "#EXTINF:2.040000,\nseg_00001.ts\n#EXT-X-ENDLIST\n"
    )
    assert hls.referenced_files(text) == ["seg_00000.ts", "seg_00001.ts"]
    assert hls.total_duration(text) == pytest.approx(8.04)
