"""MinIO's admin API takes some request bodies (a user's secret key among them) encrypted with the
admin's secret key, in the DARE/sio format: salt (32 bytes) | AEAD id (1) | nonce (8) | chunks of
at most 16 KiB, each AES-256-GCM-sealed with a 16-byte tag.

minio-py derives the key with Argon2id (64 MiB and ~0.1 s of CPU per call, and as much again on the
server to decrypt it): the largest single cost of provisioning a Club's storage. MinIO also accepts
AEAD id 2, the key derived with PBKDF2-SHA256 (8192 rounds, what MinIO itself uses in FIPS mode):
`encrypt` writes that.

`SealingAdmin` is minio-py's `MinioAdmin` with its public `user_add` overridden: the one admin call
the operator makes that carries a sealed body. The override builds the request itself from public
API only: the credentials come from the `Provider` and the connection pool passed to the constructor,
the request is signed by botocore's SigV4 signer (`S3SigV4Auth`, AWS's documented way to sign a
request of one's own; it also signs the body's SHA-256, which MinIO checks) and sent on that pool.
A refusal raises `MinioAdminException`, as the library's own calls do. Nothing of minio-py is
patched and none of its private attributes is read, so its other calls stay the library's own and
an upgrade cannot silently undo the sealing: what this relies on is MinioAdmin's public constructor
and method signatures and MinIO's wire format (the add-user endpoint, AEAD id 2), which the
integration test `tests/integration/operator/test_minio_payload.py` checks against a real MinIO."""

from __future__ import annotations

import hashlib
import json
import os
from urllib.parse import quote

import urllib3
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from Crypto.Cipher import AES
from minio import MinioAdmin
from minio.credentials.providers import Provider
from minio.error import MinioAdminException

PBKDF2_AES_GCM = 2
PBKDF2_ROUNDS = 8192
SALT_LEN, NONCE_LEN, TAG_LEN = 32, 8, 16
CHUNK = 16 * 1024
_FINAL = 0x80
ADMIN_PATH = "/minio/admin/v3/"


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


class SealingAdmin(MinioAdmin):
    """MinioAdmin whose `user_add` seals the secret key with `encrypt` (PBKDF2)."""

    def __init__(
        self,
        *,
        endpoint: str,
        credentials: Provider,
        region: str,
        secure: bool,
        http_client: urllib3.PoolManager,
    ) -> None:
        super().__init__(
            endpoint=endpoint, credentials=credentials, region=region, secure=secure, http_client=http_client
        )
        self._sealing_base = f"{'https' if secure else 'http'}://{endpoint}{ADMIN_PATH}"
        self._sealing_credentials = credentials
        self._sealing_region = region
        self._sealing_http = http_client
        self._sealing_agent = "club-operator"

    def set_app_info(self, app_name: str, app_version: str) -> None:
        super().set_app_info(app_name, app_version)
        self._sealing_agent = f"{app_name}/{app_version}"

    def user_add(self, access_key: str, secret_key: str) -> str:
        """Create (or re-password) the user `access_key`, as `MinioAdmin.user_add` does."""
        admin = self._sealing_credentials.retrieve()
        body = encrypt(json.dumps({"status": "enabled", "secretKey": secret_key}).encode(), admin.secret_key)
        url = f"{self._sealing_base}add-user?accessKey={quote(access_key, safe='')}"
        headers = {"Content-Type": "application/octet-stream", "User-Agent": self._sealing_agent}
        request = AWSRequest(method="PUT", url=url, data=body, headers=headers)
        signer = Credentials(admin.access_key, admin.secret_key, admin.session_token)
        S3SigV4Auth(signer, "s3", self._sealing_region).add_auth(request)
        prepared = request.prepare()
        response = self._sealing_http.request("PUT", prepared.url, body=body, headers=dict(prepared.headers))
        if response.status not in (200, 204):
            raise MinioAdminException(str(response.status), response.data.decode(errors="replace"))
        return response.data.decode(errors="replace")
