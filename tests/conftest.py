"""Fixtures for every test: the local stack once per session (started on first use, so unit tests
start nothing), and per test a namespace, a database, a bucket and a Redis database of their own.

Set CLUB_STACK_FILE to the stack.json of a running `make stack` to reuse it instead of starting one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from psycopg import sql

from club_devstack import stack as stack_module
from club_devstack.stack import StackInfo

_MARK_BY_FOLDER = {"integration": pytest.mark.integration, "e2e": pytest.mark.e2e}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        folder = Path(str(item.path)).relative_to(Path(__file__).parent).parts[0]
        if folder in _MARK_BY_FOLDER:
            item.add_marker(_MARK_BY_FOLDER[folder])


def unique_name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def stack() -> Iterator[StackInfo]:
    with stack_module.running() as info:
        yield info


@pytest.fixture(scope="session")
def kube_api(stack: StackInfo) -> k8s.ApiClient:
    return k8s_config.new_client_from_config(config_file=str(stack.kube.kubeconfig))


@pytest.fixture
def namespace(kube_api: k8s.ApiClient) -> Iterator[str]:
    """A namespace of this test's own, deleted afterwards."""
    core = k8s.CoreV1Api(kube_api)
    name = unique_name("t")
    core.create_namespace(k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=name)))
    yield name
    core.delete_namespace(name, propagation_policy="Background")


@pytest.fixture
def database(stack: StackInfo) -> Iterator[str]:
    """A fresh, empty PostgreSQL database; yields its superuser DSN."""
    name = unique_name("t").replace("-", "_")
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield stack.postgres.dsn(name)
    with psycopg.connect(stack.postgres.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def s3(stack: StackInfo) -> Any:
    return stack.minio.client()


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """An empty bucket of this test's own; emptied and deleted afterwards."""
    name = unique_name("t")
    s3.create_bucket(Bucket=name)
    yield name
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=name, Key=obj["Key"])
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def redis_url(stack: StackInfo) -> Iterator[str]:
    """The URL of a Redis database no other test uses at the same time; flushed afterwards.

    Database 0 holds a counter that hands out the others, so that several test runs sharing one
    `make stack` do not collide."""
    with redis.Redis.from_url(stack.redis.url(0)) as allocator:
        db = 1 + (int(allocator.incr("devstack:next-db")) - 1) % (stack.redis.databases - 1)
    url = stack.redis.url(db)
    conn = redis.Redis.from_url(url)
    conn.flushdb()
    yield url
    conn.flushdb()
    conn.close()
