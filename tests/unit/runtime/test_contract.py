"""The key layout shared by the operator, the API and the workers: every key of a video lies in its
own folder, the folder of a recorded key is found again in either layout, and deletion's folders
never reach another video's objects."""

from __future__ import annotations

import pytest

from club_runtime import contract
from club_runtime.worker.outputs import ClipOutput, RenditionOutput, VideoOutputs

CLUB = "6f1c7e0a-0000-4000-8000-000000000001"
VIDEO = "9a8b7c6d-0000-4000-8000-000000000002"


def test_every_key_of_a_video_lies_in_its_folder() -> None:
    prefix = contract.video_prefix(CLUB, VIDEO)
    assert prefix == f"clubs/{CLUB}/videos/{VIDEO}"
    assert contract.source(prefix) == f"{prefix}/source"
    assert contract.rendition_prefix(prefix, "720p") == f"{prefix}/hls/720p"
    assert contract.rendition_playlist(prefix, "720p") == f"{prefix}/hls/720p/index.m3u8"
    assert contract.master_playlist(prefix) == f"{prefix}/hls/master.m3u8"
    assert contract.thumbnail(prefix, "thumb_00001.jpg") == f"{prefix}/thumbnails/thumb_00001.jpg"
    assert contract.poster(prefix) == f"{prefix}/poster.jpg"
    assert contract.clip(prefix, 0) == f"{prefix}/clips/0.mp4"


@pytest.mark.parametrize(
    ("key", "folder"),
    [
        (f"clubs/{CLUB}/videos/{VIDEO}/hls/master.m3u8", f"clubs/{CLUB}/videos/{VIDEO}"),
        (f"clubs/riverside-fc/videos/{VIDEO}/clips/0.mp4", f"clubs/riverside-fc/videos/{VIDEO}"),
        (f"clubs/{CLUB}/videos/another-video/poster.jpg", None),
        (f"uploads/videos/{VIDEO}/x.mp4", None),
        (f"clubs/a/b/videos/{VIDEO}/x.mp4", None),
        (f"clubs//videos/{VIDEO}/x.mp4", None),
        (f"clubs/{CLUB}/videos/{VIDEO}", None),
    ],
)
def test_the_folder_of_a_recorded_key(key: str, folder: str | None) -> None:
    assert contract.prefix_of(key, VIDEO) == folder


def test_deletion_folders_cover_both_layouts_and_recorded_keys_only_of_this_video() -> None:
    recorded = [
        f"clubs/old-name/videos/{VIDEO}/hls/master.m3u8",
        "uploads/match.mp4",  # a VideoJob's source: not a folder of the video
        f"clubs/{CLUB}/videos/someone-else/hls/master.m3u8",
    ]
    folders = contract.video_folders(VIDEO, club_id=CLUB, club_slug="riverside-fc", recorded=recorded)
    assert folders == sorted(
        [
            f"clubs/{CLUB}/videos/{VIDEO}/",
            f"clubs/riverside-fc/videos/{VIDEO}/",
            f"clubs/old-name/videos/{VIDEO}/",
        ]
    )
    assert contract.video_folders(VIDEO, club_id=CLUB) == [f"clubs/{CLUB}/videos/{VIDEO}/"]
    # With its trailing slash, a folder is no prefix of a longer video id's keys.
    assert all(folder.endswith(f"/{VIDEO}/") for folder in folders)


@pytest.mark.parametrize(
    ("key", "content_type"),
    [
        ("a/index.m3u8", "application/vnd.apple.mpegurl"),
        ("a/seg_00001.ts", "video/mp2t"),
        ("a/poster.jpg", "image/jpeg"),
        ("a/clips/0.mp4", "video/mp4"),
        ("a.d/source", "application/octet-stream"),
        ("a/b", "application/octet-stream"),
    ],
)
def test_content_types(key: str, content_type: str) -> None:
    assert contract.content_type(key) == content_type


def test_outputs_keep_their_folder_and_find_it_from_recorded_keys() -> None:
    legacy = contract.legacy_video_prefix("riverside-fc", VIDEO)
    done = VideoOutputs(
        renditions={
            "360p": RenditionOutput(
                playlist=f"{legacy}/hls/360p/index.m3u8",
                width=640,
                height=360,
                video_bitrate_k=800,
                audio_bitrate_k=96,
                segments=2,
            )
        },
        clips={"0": ClipOutput(key=f"{legacy}/clips/0.mp4", start=0, end=1)},
    )
    assert set(done.keys()) == {f"{legacy}/hls/360p/index.m3u8", f"{legacy}/clips/0.mp4"}
    assert done.folder(VIDEO) == legacy  # recorded before the layout: the re-run keeps its folder
    assert VideoOutputs().folder(VIDEO) is None
    assert VideoOutputs(prefix="clubs/x/videos/y").folder(VIDEO) == "clubs/x/videos/y"
