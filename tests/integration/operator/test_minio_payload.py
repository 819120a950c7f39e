"""The admin client the operator makes (s3_server.admin_client, a minio_payload.SealingAdmin)
against the stack's real MinIO: a user it creates, its secret key sealed with PBKDF2 (AEAD id 2)
and sent as a request of our own, logs in with that key and no other; creating the user again
re-passwords it; MinIO's refusal of the admin comes back as the library's own exception."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from botocore.exceptions import ClientError
from minio.error import MinioAdminException

from club_devstack.stack import StackInfo
from club_operator import minio_payload, s3_server
from club_operator.s3_server import S3Server


@pytest.fixture
def server(stack: StackInfo) -> S3Server:
    return S3Server(stack.minio.endpoint, stack.minio.access_key, stack.minio.secret_key)


@pytest.fixture
def user(server: S3Server) -> Iterator[str]:
    name = f"t-sealed-{uuid.uuid4().hex[:10]}"
    yield name
    s3_server.admin_client(server).user_remove(name)


def login_error(stack: StackInfo, access_key: str, secret_key: str) -> str:
    """'' when the credentials log in (ListBuckets answers; the user holds MinIO's built-in
    readwrite policy), else MinIO's error code."""
    try:
        stack.minio.client(access_key, secret_key).list_buckets()
    except ClientError as exc:
        return str(exc.response["Error"]["Code"])
    return ""


def test_the_operators_admin_seals_with_pbkdf2(server: S3Server) -> None:
    assert isinstance(s3_server.admin_client(server), minio_payload.SealingAdmin)


def test_a_user_it_creates_logs_in_with_its_key_only(stack: StackInfo, server: S3Server, user: str) -> None:
    admin = s3_server.admin_client(server)
    secret = uuid.uuid4().hex
    admin.user_add(user, secret)
    admin.policy_set("readwrite", user=user)

    assert login_error(stack, user, secret) == ""
    assert login_error(stack, user, uuid.uuid4().hex) == "SignatureDoesNotMatch"


def test_adding_it_again_repasswords_it(stack: StackInfo, server: S3Server, user: str) -> None:
    admin = s3_server.admin_client(server)
    old, new = uuid.uuid4().hex, uuid.uuid4().hex
    admin.user_add(user, old)
    admin.policy_set("readwrite", user=user)
    admin.user_add(user, new)

    assert login_error(stack, user, new) == ""
    assert login_error(stack, user, old) == "SignatureDoesNotMatch"


def test_a_refused_admin_raises_the_librarys_exception(server: S3Server) -> None:
    wrong = S3Server(server.endpoint, server.access_key, uuid.uuid4().hex)
    with pytest.raises(MinioAdminException) as caught:
        s3_server.admin_client(wrong).user_add(f"t-sealed-{uuid.uuid4().hex[:10]}", uuid.uuid4().hex)
    assert "403" in str(caught.value)
    assert wrong.secret_key not in str(caught.value)
