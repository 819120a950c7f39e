"""MinIO's admin API takes some request bodies (a user's secret key among them) encrypted with the
admin's secret key, in the DARE/sio format: salt (32 bytes) | AEAD id (1) | nonce (8) | chunks of
at most 16 KiB, each AES-256-GCM-sealed with a 16-byte tag.

minio-py derives the key with Argon2id (64 MiB and ~0.1 s of CPU per call, and as much again on the
server to decrypt it): the largest single cost of provisioning a Club's storage. MinIO also accepts
AEAD id 2, the key derived with PBKDF2-SHA256 (8192 rounds, what MinIO itself uses in FIPS mode):
this module writes that, and `install` makes the admin client use it."""

from __future__ import annotations

import hashlib
import os

from Crypto.Cipher import AES

PBKDF2_AES_GCM = 2
PBKDF2_ROUNDS = 8192
SALT_LEN, NONCE_LEN, TAG_LEN = 32, 8, 16
CHUNK = 16 * 1024
_FINAL = 0x80


def encrypt(payload: bytes, password: str) -> bytes:
    """`payload` sealed for MinIO's admin API with `password` (the admin's secret key)."""
    salt, nonce = os.urandom(SALT_LEN), os.urandom(NONCE_LEN)
    key = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, PBKDF2_ROUNDS, 32)
    # The stream's associated data: a flag byte, then the tag of an empty message under nonce || 0.
    header_tag = AES.new(key, AES.MODE_GCM, nonce + bytes(4)).digest()
    out = [salt, bytes([PBKDF2_AES_GCM]), nonce]
    starts = range(0, max(len(payload), 1), CHUNK)
    for sequence, start in enumerate(starts, start=1):
        flag = _FINAL if start == starts[-1] else 0
        cipher = AES.new(key, AES.MODE_GCM, nonce + sequence.to_bytes(4, "little"))
        cipher.update(bytes([flag]) + header_tag)
        sealed, tag = cipher.encrypt_and_digest(payload[start : start + CHUNK])
        out += [sealed, tag]
    return b"".join(out)


def install() -> None:
    """Make minio-py's admin client seal its payloads with `encrypt`."""
    from minio import minioadmin

    minioadmin.encrypt = encrypt  # type: ignore[attr-defined]
