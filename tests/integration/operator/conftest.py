"""Fixtures for the operator's integration tests."""

from __future__ import annotations

import pytest
from kubernetes import client as k8s

from tests.support import crds


@pytest.fixture
def custom(kube_api: k8s.ApiClient) -> k8s.CustomObjectsApi:
    """The custom objects API, with the project's CRDs installed."""
    crds.install_crds(kube_api)
    return k8s.CustomObjectsApi(kube_api)
