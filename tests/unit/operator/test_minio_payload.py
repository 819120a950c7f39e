"""The sealed admin payload: MinIO's layout with the PBKDF2 AEAD id, readable only with the key.
(That MinIO accepts it is shown by tests/integration/operator/test_minio_payload.py, which
creates users through it.)"""

from __future__ import annotations

import hashlib

import pytest
from Crypto.Cipher import AES

from club_operator import minio_payload


def _open(sealed: bytes, password: str) -> bytes:
    """Read the payload back, chunk by chunk, as MinIO's DecryptData does for AEAD id 2."""
    salt, aead, nonce, body = sealed[:32], sealed[32], sealed[33:41], sealed[41:]
    assert aead == minio_payload.PBKDF2_AES_GCM
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 8192, 32)
    header = AES.new(key, AES.MODE_GCM, nonce + bytes(4)).digest()
    size = minio_payload.CHUNK + 16
    chunks = [body[i : i + size] for i in range(0, len(body), size)]
    out = b""
    for sequence, chunk in enumerate(chunks, start=1):
        flag = 0x80 if sequence == len(chunks) else 0
        cipher = AES.new(key, AES.MODE_GCM, nonce + sequence.to_bytes(4, "little"))
        cipher.update(bytes([flag]) + header)
        out += cipher.decrypt_and_verify(chunk[:-16], chunk[-16:])
    return out


@pytest.mark.parametrize(
    "size", [1, 100, minio_payload.CHUNK, minio_payload.CHUNK + 1, 3 * minio_payload.CHUNK]
)
def test_a_payload_opens_with_the_password_it_was_sealed_with(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    sealed = minio_payload.encrypt(payload, "admin-secret")
    assert _open(sealed, "admin-secret") == payload


def test_the_payload_does_not_travel_in_the_clear() -> None:
    payload = b'{"secretKey": "a-club-secret-of-some-length", "status": "enabled"}'
    assert b"a-club-secret" not in minio_payload.encrypt(payload, "admin-secret")


def test_the_wrong_password_does_not_open_it() -> None:
    sealed = minio_payload.encrypt(b'{"secretKey": "s3cret"}', "admin-secret")
    with pytest.raises(ValueError, match="MAC check failed"):
        _open(sealed, "another")


def test_two_seals_of_the_same_payload_differ() -> None:
    assert minio_payload.encrypt(b"same", "pw") != minio_payload.encrypt(b"same", "pw")
