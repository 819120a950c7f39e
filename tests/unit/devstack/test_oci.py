"""A one-layer OCI archive: valid layout, content-addressed blobs, named for containerd."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

from club_devstack import oci


def _members(archive: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def _blob(members: dict[str, bytes], digest: str) -> bytes:
    return members[f"blobs/sha256/{digest.split(':')[1]}"]


def test_archive_is_an_oci_layout_whose_blobs_match_their_digests() -> None:
    archive = oci.build_archive(
        "registry.k8s.io/pause:3.10.1", [oci.File("/pause", b"\x7fELF...")], entrypoint=["/pause"]
    )
    members = _members(archive)
    assert json.loads(members["oci-layout"]) == {"imageLayoutVersion": "1.0.0"}
    for name, data in members.items():
        if name.startswith("blobs/sha256/"):
            assert hashlib.sha256(data).hexdigest() == name.rsplit("/", 1)[1]
    (entry,) = json.loads(members["index.json"])["manifests"]
    assert entry["annotations"]["io.containerd.image.name"] == "registry.k8s.io/pause:3.10.1"
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "3.10.1"
    manifest = json.loads(_blob(members, entry["digest"]))
    config = json.loads(_blob(members, manifest["config"]["digest"]))
    assert config["config"]["Entrypoint"] == ["/pause"]
    (layer,) = manifest["layers"]
    assert config["rootfs"]["diff_ids"] == [layer["digest"]]
    with tarfile.open(fileobj=io.BytesIO(_blob(members, layer["digest"]))) as tar:
        (pause,) = tar.getmembers()
        assert (pause.name, pause.mode) == ("pause", 0o755)


def test_same_files_give_the_same_archive() -> None:
    def build() -> bytes:
        return oci.build_archive("club.local/probe:test", [oci.File("/probe", b"x")], entrypoint=["/probe"])

    assert build() == build()


def test_a_name_without_a_tag_is_latest() -> None:
    archive = oci.build_archive("club.local/probe", [oci.File("/probe", b"x")], entrypoint=["/probe"])
    (entry,) = json.loads(_members(archive)["index.json"])["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "latest"
