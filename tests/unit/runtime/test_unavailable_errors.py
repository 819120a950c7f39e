"""A server the API needs being unreachable is a 503 with Retry-After, never a 500: the client may
send the request again once the server is back. In-process ASGI calls only, no servers."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from psycopg import errors as pg_errors
from psycopg_pool import PoolTimeout
from redis import exceptions as redis_errors

from club_runtime.api import errors

FAILURES: list[tuple[Exception, str]] = [
    (pg_errors.OperationalError("connection failed: Connection refused"), "database"),
    (pg_errors.AdminShutdown("terminating connection due to administrator command"), "database"),
    (PoolTimeout("couldn't get a connection after 5.00 sec"), "database"),
    (redis_errors.ConnectionError("Error 111 connecting to 10.0.0.1:6379."), "job queue"),
    (redis_errors.AuthenticationError("WRONGPASS invalid username-password pair"), "job queue"),
]


def _client(failure: Exception) -> TestClient:
    app = FastAPI()
    errors.install(app)

    @app.get("/fails")
    async def fails() -> None:
        raise failure

    return TestClient(app, raise_server_exceptions=False)


@pytest.mark.parametrize(("failure", "what"), FAILURES, ids=lambda f: type(f).__name__)
def test_an_unreachable_server_is_a_503_to_retry(failure: Exception, what: str) -> None:
    response = _client(failure).get("/fails")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(errors.RETRY_AFTER_SEC)
    assert response.json()["detail"].startswith(f"the {what} could not serve the request")
    assert "10.0.0.1" not in response.text  # the server's address is not echoed


def test_a_bug_is_still_a_500() -> None:
    assert _client(RuntimeError("a bug")).get("/fails").status_code == 500
