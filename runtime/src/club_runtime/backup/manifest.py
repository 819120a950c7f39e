"""The manifest: what one backup holds, written last so that its presence means the backup is whole.

It names the format (so a later reader can refuse one it does not know), the schema revision the rows
were read at (a restore refuses a revision its runtime does not know: a newer schema), the club, the
start and end of the snapshot's transaction, and per table, in the order a restore must load them
(parents before the tables whose foreign keys point at them): the columns copied, the row count, the
sha256 of the table's COPY text stream before compression, and the size of the compressed object."""

from __future__ import annotations

import re
import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

FORMAT = "club-backup"
FORMAT_VERSION = 1
DATA_FORMAT = "postgresql-copy-text"
COMPRESSION = "gzip"

_BACKUP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class ManifestError(ValueError):
    """A manifest that cannot be read: not JSON, not this format, or a version this code does not know."""


class TableEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    key: str = Field(description="the object holding the table's rows")
    columns: tuple[str, ...]
    rows: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="of the COPY text stream, uncompressed")
    compressed_bytes: int = Field(ge=0)


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format: str = FORMAT
    format_version: int = FORMAT_VERSION
    data_format: str = DATA_FORMAT
    compression: str = COMPRESSION
    backup_id: str
    club_id: uuid.UUID
    schema_revision: str
    server_version: int = Field(description="PostgreSQL's server_version_num at the snapshot")
    started_at: datetime
    finished_at: datetime
    tables: tuple[TableEntry, ...]

    @field_validator("backup_id")
    @classmethod
    def _valid_backup_id(cls, value: str) -> str:
        return valid_backup_id(value)

    @property
    def rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def compressed_bytes(self) -> int:
        return sum(t.compressed_bytes for t in self.tables)

    def table(self, name: str) -> TableEntry | None:
        return next((t for t in self.tables if t.name == name), None)

    def to_json(self) -> bytes:
        return self.model_dump_json(indent=2).encode()


def valid_backup_id(value: str) -> str:
    """A backup id is one path segment of letters, digits, `.`, `_` and `-` (it names a folder)."""
    if not _BACKUP_ID.match(value) or value in (".", ".."):
        raise ValueError(f"backup id {value!r} must be letters, digits, '.', '_' or '-' (at most 128)")
    return value


def new_backup_id(at: datetime, suffix: str) -> str:
    """A backup id that sorts by time: `20240901T020000Z-<suffix>`."""
    return f"{at.strftime('%Y%m%dT%H%M%SZ')}-{suffix}"


def parse(raw: bytes) -> Manifest:
    """Read a manifest, refusing another format or a newer format version with a clear reason."""
    try:
        manifest = Manifest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "manifest"
        raise ManifestError(f"the manifest is not a valid backup manifest: {where}: {first['msg']}") from exc
    if manifest.format != FORMAT:
        raise ManifestError(f"the manifest's format is {manifest.format!r}, not {FORMAT!r}")
    if manifest.format_version > FORMAT_VERSION:
        raise ManifestError(
            f"the manifest's format version {manifest.format_version} is newer than this runtime's "
            f"({FORMAT_VERSION}): read it with a newer runtime"
        )
    if (manifest.data_format, manifest.compression) != (DATA_FORMAT, COMPRESSION):
        raise ManifestError(f"unknown data format {manifest.data_format!r} / {manifest.compression!r}")
    return manifest
