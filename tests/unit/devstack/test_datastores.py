"""Connection info the stack hands out."""

from __future__ import annotations

from club_devstack import datastores


def test_redis_url_carries_the_default_users_password_quoted() -> None:
    info = datastores.RedisInfo("192.0.2.2", 6379, databases=16, password="a/b@c")
    assert info.url(3) == "redis://:a%2Fb%40c@192.0.2.2:6379/3"
    assert info.address() == "192.0.2.2:6379"


def test_redis_url_without_a_password_has_no_credentials() -> None:
    assert datastores.RedisInfo("127.0.0.1", 6379, databases=16).url() == "redis://127.0.0.1:6379/0"
