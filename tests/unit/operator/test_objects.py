"""A desired manifest 'holds' on a live object when every field asked for has that value, whatever
the API server added around it: that is what lets a steady-state reconcile send no write."""

from __future__ import annotations

from club_operator.objects import holds

DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "labels": {"app": "api"}},
    "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "api", "image": "club:1"}]}}},
}
LIVE = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "api", "labels": {"app": "api"}, "resourceVersion": "42", "uid": "u"},
    "spec": {
        "replicas": 2,
        "revisionHistoryLimit": 10,
        "template": {
            "spec": {
                "containers": [
                    {"name": "api", "image": "club:1", "terminationMessagePath": "/dev/termination-log"}
                ],
                "dnsPolicy": "ClusterFirst",
            }
        },
    },
    "status": {"availableReplicas": 2},
}


def test_server_defaults_and_status_do_not_count_as_drift() -> None:
    assert holds(DESIRED, LIVE)


def test_a_changed_field_is_drift() -> None:
    edited = {**LIVE, "spec": {**LIVE["spec"], "replicas": 5}}  # type: ignore[dict-item]
    assert not holds(DESIRED, edited)


def test_a_missing_label_or_container_is_drift() -> None:
    assert not holds(DESIRED, {**LIVE, "metadata": {"name": "api", "labels": {}}})
    no_containers = {"template": {"spec": {"containers": []}}, "replicas": 2}
    assert not holds(DESIRED, {**LIVE, "spec": no_containers})


def test_booleans_are_not_numbers() -> None:
    assert not holds({"x": True}, {"x": 1})
    assert holds({"x": 0.5}, {"x": 0.5})


def test_quantities_in_another_notation_are_the_same_value() -> None:
    assert holds({"cpu": "1000m", "memory": "1024Mi"}, {"cpu": "1", "memory": "1Gi"})
    assert not holds({"cpu": "500m"}, {"cpu": "1"})
    assert not holds({"image": "club:1"}, {"image": "club:2"})
