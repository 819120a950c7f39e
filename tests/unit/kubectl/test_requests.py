"""What the mutating commands write, pure: names, annotation values, and the objects created."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from club_operator.kubectl_club import requests

NOW = datetime(2026, 5, 12, 9, 30, 5, tzinfo=UTC)
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def test_object_names_are_dns_labels_even_from_long_or_odd_input() -> None:
    assert requests.object_name("Riverside_FC", "20260512-093005") == "riverside-fc-20260512-093005"
    long = requests.object_name("a" * 80, "restore", "x")
    assert len(long) == 63
    assert DNS_LABEL.match(long)
    assert long != requests.object_name("a" * 80, "restore", "y")


def test_request_values_differ_in_time_so_the_operator_acts_on_each() -> None:
    first = requests.request_value(" key leaked ", NOW)
    assert first == "key leaked (2026-05-12T09:30:05Z)"
    assert first != requests.request_value("key leaked", NOW.replace(second=6))
    assert requests.annotation_patch(requests.ROTATE_ANNOTATION, first) == {
        "metadata": {"annotations": {"footballclub.io/rotate": first}}
    }


def test_backup_and_restore_objects() -> None:
    backup = requests.club_backup("riverside-fc", NOW)
    assert backup["metadata"]["name"] == "riverside-fc-20260512-093005"
    assert backup["spec"] == {"clubRef": {"name": "riverside-fc"}, "trigger": "Manual"}
    assert "ownerReferences" not in backup["metadata"]  # a person's backup outlives the Club
    restore = requests.club_restore("riverside-fc", "b1", NOW)
    assert restore["kind"] == "ClubRestore"
    assert restore["spec"] == {"clubRef": {"name": "riverside-fc"}, "backupRef": {"name": "b1"}}


def test_clone_copies_the_spec_but_not_what_names_the_sources_resources() -> None:
    source = {
        "metadata": {"name": "riverside-fc", "namespace": "clubs", "uid": "u"},
        "spec": {
            "displayName": "Riverside FC",
            "storage": {"bucket": "riverside-media", "quota": "10Gi"},
            "adopt": {"database": True},
            "bootstrap": {"fromBackup": {"clubName": "older", "backupName": "x"}},
            "suspend": True,
            "api": {"replicas": 2},
        },
    }
    made = requests.clone(source, "riverside-copy", "b1")
    assert made["metadata"]["name"] == "riverside-copy"
    assert made["spec"] == {
        "displayName": "Riverside FC",
        "storage": {"quota": "10Gi"},
        "suspend": False,
        "api": {"replicas": 2},
        "bootstrap": {"fromBackup": {"clubName": "riverside-fc", "backupName": "b1"}},
    }
    assert source["spec"]["storage"] == {"bucket": "riverside-media", "quota": "10Gi"}  # not changed


def test_upload_key_and_video_job() -> None:
    key = requests.upload_key("/home/coach/Match vs Town.mp4", NOW)
    assert key == "uploads/20260512-093005-Match-vs-Town.mp4"
    job = requests.video_job("riverside-fc", key, NOW, priority="high", gpu=None)
    assert job["spec"] == {"clubRef": {"name": "riverside-fc"}, "source": {"key": key}, "priority": "high"}
    assert DNS_LABEL.match(job["metadata"]["name"])
