"""The plugin's output, pure: tables, ages, the status page and the -o json document."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import yaml

from club_operator.kubectl_club import render

NOW = datetime(2026, 5, 12, 12, 0, 0, tzinfo=UTC)


def _club(name: str = "riverside-fc", namespace: str = "clubs", **status: object) -> dict[str, object]:
    return {
        "metadata": {"name": name, "namespace": namespace, "generation": 2},
        "spec": {"displayName": "Riverside FC", "suspend": False},
        "status": {
            "phase": "Ready",
            "observedGeneration": 2,
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "reason": "Ready",
                    "lastTransitionTime": "2026-05-12T11:00:00Z",
                }
            ],
            **status,
        },
    }


def _child(kind: str, name: str, club: str, namespace: str = "clubs", **status: object) -> dict[str, object]:
    return {
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": f"2026-05-12T0{len(name) % 9}:00:00Z",
        },
        "spec": {"clubRef": {"name": club}, "trigger": "Manual"},
        "status": status,
    }


def test_age_like_kubectl() -> None:
    assert render.age("2026-05-12T11:59:15Z", NOW) == "45s"
    assert render.age("2026-05-12T11:48:00Z", NOW) == "12m"
    assert render.age("2026-05-12T07:00:00Z", NOW) == "5h"
    assert render.age("2026-05-09T12:00:00Z", NOW) == "3d"
    assert render.age(None, NOW) == ""
    assert render.age("not a time", NOW) == ""


def test_table_pads_columns_and_marks_empty_cells() -> None:
    text = render.table(["NAME", "PHASE"], [["a", None], ["longer-name", "Ready"]])
    assert text.splitlines() == ["NAME          PHASE", "a             <none>", "longer-name   Ready"]


def test_summary_keeps_the_status_verbatim_and_only_the_clubs_own_objects() -> None:
    club = _club(bucket="club-clubs-riverside-fc", lastSuccessfulBackup="b1")
    backups = [
        _child("ClubBackup", "b1", "riverside-fc", phase="Succeeded", rows=20, verified=True),
        _child("ClubBackup", "other", "other-fc", phase="Succeeded"),
        _child("ClubBackup", "elsewhere", "riverside-fc", namespace="other-ns", phase="Failed"),
    ]
    jobs = [
        _child("VideoJob", "v1", "riverside-fc", phase="Succeeded"),
        _child("VideoJob", "v2", "riverside-fc", phase="Running"),
        _child("VideoJob", "v3", "riverside-fc"),
        _child("VideoJob", "v4", "other-fc", phase="Running"),
    ]
    found = render.summary(club, backups, jobs, [])
    assert found["status"] == club["status"]
    assert [b["name"] for b in found["backups"]] == ["b1"]
    assert found["backups"][0] == {
        "name": "b1",
        "phase": "Succeeded",
        "trigger": "Manual",
        "completionTime": None,
        "rows": 20,
        "verified": True,
        "reason": None,
    }
    assert found["videoJobs"] == {"Pending": 1, "Running": 1, "Succeeded": 1}
    json.loads(render.dump(found, "json"))
    assert yaml.safe_load(render.dump(found, "yaml")) == found


def test_related_warnings_are_the_clubs_and_its_objects() -> None:
    club = _club()
    objects = [_child("VideoJob", "v1", "riverside-fc"), _child("ClubBackup", "b9", "other-fc")]
    events = [
        {
            "time": "2026-05-12T11:00:02Z",
            "namespace": "clubs",
            "kind": "VideoJob",
            "name": "v1",
            "reason": "Failed",
        },
        {
            "time": "2026-05-12T11:00:01Z",
            "namespace": "clubs",
            "kind": "Club",
            "name": "riverside-fc",
            "reason": "X",
        },
        {
            "time": "2026-05-12T11:00:03Z",
            "namespace": "clubs",
            "kind": "ClubBackup",
            "name": "b9",
            "reason": "Y",
        },
        {
            "time": "2026-05-12T11:00:04Z",
            "namespace": "other",
            "kind": "Club",
            "name": "riverside-fc",
            "reason": "Z",
        },
    ]
    found = render.related_warnings(events, club, objects)
    assert [e["reason"] for e in found] == ["X", "Failed"]


def test_status_page_shows_phase_endpoint_backups_rotation_and_warnings() -> None:
    rotation = {
        "jwtSigningKey": {
            "phase": "Propagated",
            "kid": "k2",
            "reason": "requested",
            "issuedTime": "2026-05-12T11:50:00Z",
            "nextRotationTime": "2026-06-11T11:50:00Z",
        }
    }
    club = _club(
        apiEndpoint="http://riverside-fc-api.clubs.svc:8000",
        databaseName="clubs_shared",
        bucket="club-clubs-riverside-fc",
        lastSuccessfulBackup="b1",
        lastBackupTime="2026-05-12T10:00:00Z",
        lastVerifiedRestore={"backup": "b1", "time": "2026-05-12T10:05:00Z", "seconds": 1.5},
        rotation=rotation,
    )
    warning = {
        "time": "2026-05-12T11:59:00Z",
        "kind": "Club",
        "name": "riverside-fc",
        "reason": "Oops",
        "count": 2,
    }
    page = render.status_page(
        render.summary(club, [_child("ClubBackup", "b1", "riverside-fc", phase="Succeeded")], [], [warning]),
        wide=True,
        now=NOW,
    )
    assert "Phase:       Ready  Ready=True (Ready)" in page
    assert "http://riverside-fc-api.clubs.svc:8000" in page
    assert "Last successful:        b1 (finished 2026-05-12T10:00:00Z (2h ago))" in page
    assert "b1 (checked 2026-05-12T10:05:00Z (115m ago), 1.5s)" in page
    assert "jwtSigningKey   Propagated   k2   requested   10m      2026-06-11T11:50:00Z (in 29d)" in page
    assert "Club/riverside-fc   Oops" in page


def test_status_page_of_a_new_club_says_what_is_missing() -> None:
    club = {"metadata": {"name": "new-fc", "namespace": "clubs"}, "spec": {"suspend": True}}
    page = render.status_page(render.summary(club, [], [], []), wide=False, now=NOW)
    assert "Phase:       Pending  SUSPENDED" in page
    assert "Conditions:\n  (none reported yet)" in page
    assert "Rotation:\n  (nothing rotated yet)" in page
    assert "Last successful:        none\n" in page
    assert "VideoJobs:   none" in page


def test_clubs_table_with_namespaces_and_wide_columns() -> None:
    summaries = [
        render.summary(_club(apiEndpoint="http://x"), [], [_child("VideoJob", "v", "riverside-fc")], [])
    ]
    text = render.clubs_table(summaries, all_namespaces=True, wide=True, now=NOW)
    header, row = text.splitlines()
    assert header.split() == [
        "NAMESPACE", "NAME", "PHASE", "READY", "SUSPENDED", "LAST", "BACKUP", "VIDEOJOBS", "WARNINGS",
        "ENDPOINT", "DATABASE", "BUCKET",
    ]  # fmt: skip
    assert row.split()[:5] == ["clubs", "riverside-fc", "Ready", "True", "no"]
    assert row.split()[5:] == ["<none>", "Pending=1", "0", "http://x", "<none>", "<none>"]


def test_progress_bar_and_video_line() -> None:
    assert render.progress_bar(50, width=10) == "[#####.....]  50%"
    assert render.progress_bar(140, width=4) == "[####] 100%"
    job = {
        "status": {
            "phase": "Failed",
            "progress": 30,
            "attempts": 2,
            "reason": "BadInput",
            "message": "no video",
        }
    }
    assert render.video_line(job).endswith("attempt 2 BadInput: no video")


def test_video_outputs_lists_every_key() -> None:
    job = {
        "status": {
            "outputs": {
                "prefix": "videos/1/",
                "masterPlaylist": "videos/1/master.m3u8",
                "renditions": [{"name": "360p", "playlist": "videos/1/360p.m3u8"}],
                "thumbnails": ["videos/1/t0.jpg"],
                "clips": [{"name": "goal", "key": "videos/1/goal.mp4"}],
            }
        }
    }
    assert render.video_outputs(job, "b") == [
        "s3://b/videos/1/master.m3u8",
        "s3://b/videos/1/360p.m3u8",
        "s3://b/videos/1/t0.jpg",
        "s3://b/videos/1/goal.mp4",
    ]
    assert render.video_outputs(job, None)[0] == "videos/1/master.m3u8"


def test_status_page_lists_every_credential_status_records_and_the_last_revoke() -> None:
    record = {"phase": "Revoked", "kid": "x1", "reason": "revoked", "issuedTime": "2026-05-12T11:50:00Z"}
    rotation = dict.fromkeys(("s3AccessKey", "databasePassword", "jwtSigningKey"), record)
    revocation = {
        "request": "leaked-laptop",
        "phase": "Revoked",
        "requestedTime": "2026-05-12T11:49:00Z",
        "seconds": 38,
    }
    page = render.status_page(
        render.summary(_club(rotation=rotation, revocation=revocation), [], [], []), wide=False, now=NOW
    )
    rows = [line.split()[0] for line in page.splitlines() if " x1 " in line]
    assert rows == ["databasePassword", "jwtSigningKey", "s3AccessKey"]
    assert (
        "Last revoke:  Revoked (leaked-laptop), requested 11m ago, every old credential refused after 38 s"
        in page
    )
