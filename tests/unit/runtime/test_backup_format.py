"""The backup's format: the manifest reads back what was written and refuses another format or a
newer version with a reason; backup ids are single path segments; the codec's round trip, and its
refusal of corrupted and truncated streams, in pieces of bounded size."""

from __future__ import annotations

import json
import uuid
import zlib
from datetime import UTC, datetime

import pytest

from club_runtime import contract
from club_runtime.backup import codec, manifest

CLUB = uuid.UUID("6f1c7e0a-0000-4000-8000-000000000001")


def _manifest(**changes: object) -> manifest.Manifest:
    table = manifest.TableEntry(
        name="players",
        key=contract.backup_table("backups/", CLUB, "b1", "players"),
        columns=("id", "club_id"),
        rows=3,
        sha256="0" * 64,
        compressed_bytes=120,
    )
    values: dict[str, object] = {
        "backup_id": "b1",
        "club_id": CLUB,
        "schema_revision": "0003",
        "server_version": 150000,
        "started_at": datetime(2024, 9, 1, 2, 0, tzinfo=UTC),
        "finished_at": datetime(2024, 9, 1, 2, 1, tzinfo=UTC),
        "tables": (table,),
    }
    return manifest.Manifest.model_validate(values | changes)


def test_a_manifest_reads_back_what_was_written() -> None:
    written = _manifest()

    read = manifest.parse(written.to_json())

    assert read == written
    assert read.rows == 3
    assert read.compressed_bytes == 120
    assert read.table("players") == written.tables[0]
    assert json.loads(written.to_json())["format_version"] == manifest.FORMAT_VERSION


def test_backup_objects_live_in_the_backups_folder() -> None:
    assert contract.backup_manifest("backups/", CLUB, "b1") == f"backups/{CLUB}/b1/manifest.json"
    assert contract.backup_table("", CLUB, "b1", "players") == f"{CLUB}/b1/tables/players.copy.gz"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not a valid backup manifest"),
        (json.dumps({"format": "club-backup"}).encode(), "not a valid backup manifest"),
    ],
)
def test_an_unreadable_manifest_is_refused(raw: bytes, reason: str) -> None:
    with pytest.raises(manifest.ManifestError, match=reason):
        manifest.parse(raw)


def test_a_newer_format_version_or_another_format_is_refused() -> None:
    with pytest.raises(manifest.ManifestError, match="format version 2 is newer"):
        manifest.parse(_manifest(format_version=2).to_json())
    with pytest.raises(manifest.ManifestError, match="not 'club-backup'"):
        manifest.parse(_manifest(format="other").to_json())


@pytest.mark.parametrize("bad", ["", "..", "a/b", "x y", "-lead", "a" * 129])
def test_a_backup_id_is_one_path_segment(bad: str) -> None:
    with pytest.raises(ValueError, match="backup id"):
        manifest.valid_backup_id(bad)


def test_new_backup_ids_sort_by_time() -> None:
    early = manifest.new_backup_id(datetime(2024, 9, 1, 2, 0, tzinfo=UTC), "abc")
    late = manifest.new_backup_id(datetime(2024, 9, 2, 2, 0, tzinfo=UTC), "000")

    assert early == "20240901T020000Z-abc"
    assert early < late
    assert manifest.valid_backup_id(early) == early


def _encode(data: bytes) -> tuple[bytes, codec.Encoder]:
    encoder = codec.Encoder(6)
    out = b"".join(encoder.feed(data[i : i + 1000]) for i in range(0, len(data), 1000)) + encoder.finish()
    return out, encoder


def test_the_codec_round_trips_and_agrees_on_rows_and_checksum() -> None:
    rows = b"".join(f"{i}\tname {i}\n".encode() for i in range(5000))
    compressed, encoder = _encode(rows)
    decoder = codec.Decoder()

    out = b"".join(
        codec.decode_all([compressed[i : i + 333] for i in range(0, len(compressed), 333)], decoder)
    )

    assert out == rows
    assert (decoder.rows, decoder.sha256) == (encoder.rows, encoder.sha256) == (5000, encoder.sha256)
    assert zlib.decompress(compressed, codec.GZIP_WBITS) == rows  # plain gzip: `zcat` reads it


def test_a_highly_compressible_stream_comes_out_in_bounded_pieces() -> None:
    compressed, _ = _encode(b"\n" * (20 * codec.OUT_CHUNK))

    pieces = list(codec.decode_all([compressed], codec.Decoder()))

    assert max(len(p) for p in pieces) <= codec.OUT_CHUNK
    assert sum(len(p) for p in pieces) == 20 * codec.OUT_CHUNK


def test_a_corrupted_or_truncated_stream_is_refused() -> None:
    compressed, _ = _encode(bytes(range(256)) * 400)
    flipped = bytearray(compressed)
    flipped[len(flipped) // 2] ^= 0xFF

    with pytest.raises(codec.CorruptData):
        list(codec.decode_all([bytes(flipped)], codec.Decoder()))
    with pytest.raises(codec.CorruptData, match="ends early"):
        list(codec.decode_all([compressed[:-20]], codec.Decoder()))
    with pytest.raises(codec.CorruptData, match="after the end"):
        list(codec.decode_all([compressed + b"junk"], codec.Decoder()))
