"""Pure planning over the tenant schema: the order tables load in, and which columns a restore into
another club rewrites.

The tenant schema (catalog.py reads it from PostgreSQL) is every table of `public` with a `club_id`
column and row-level security; foreign keys between them decide the order: a table loads after every
table it references (and is emptied before them). A cycle has no such order and is refused.

A restore into a new club gives the copy its own identity. Every `club_id` becomes the new club's id;
every uuid column that is a key (in a primary key or unique constraint) gets a new value, and so does
every column whose foreign key points at a rewritten column. The new value is a function of the new
club and the old value alone (`remap_uuid`), so a foreign key and the key it references, read from
different tables in any order, always agree, and nothing needs to be held in memory."""

from __future__ import annotations

import hashlib
import heapq
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

CLUB_COLUMN = "club_id"


class PlanError(ValueError):
    """The tenant schema has no load order (a cycle of foreign keys)."""


@dataclass(frozen=True)
class ForeignKey:
    table: str
    columns: tuple[str, ...]
    references: str
    referenced_columns: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[str, ...]
    uuid_columns: frozenset[str] = frozenset()
    key_columns: frozenset[str] = frozenset()  # in a primary key or unique constraint
    primary_key: tuple[str, ...] = ()

    @property
    def is_root(self) -> bool:
        """The club's own row (`clubs`): its key is the club id alone. It is the tenant's identity,
        which the operator provisions: a restore into an existing tenant keeps it."""
        return self.primary_key == (CLUB_COLUMN,)


@dataclass(frozen=True)
class Schema:
    tables: tuple[Table, ...]
    foreign_keys: tuple[ForeignKey, ...]
    # Tables outside the tenant schema with a foreign key into it: a restore that skips row-by-row
    # foreign key actions would leave their references dangling, so it does not skip them then.
    referenced_from: tuple[str, ...] = ()

    def table(self, name: str) -> Table:
        for table in self.tables:
            if table.name == name:
                return table
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(t.name for t in self.tables)


def load_order(names: Iterable[str], foreign_keys: Iterable[ForeignKey]) -> list[str]:
    """The tables, each after every other table it references (self-references do not count);
    ties broken by name, so the order is stable. Raises PlanError on a cycle."""
    nodes = set(names)
    parents: dict[str, set[str]] = {n: set() for n in nodes}
    children: dict[str, set[str]] = {n: set() for n in nodes}
    for fk in foreign_keys:
        if fk.table in nodes and fk.references in nodes and fk.table != fk.references:
            parents[fk.table].add(fk.references)
            children[fk.references].add(fk.table)
    ready = [n for n in nodes if not parents[n]]
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        name = heapq.heappop(ready)
        order.append(name)
        for child in children[name]:
            parents[child].discard(name)
            if not parents[child]:
                heapq.heappush(ready, child)
    if len(order) != len(nodes):
        stuck = sorted(nodes - set(order))
        raise PlanError(f"the foreign keys between {', '.join(stuck)} form a cycle: no order to load them")
    return order


def remapped_columns(schema: Schema) -> dict[str, frozenset[str]]:
    """Per table, the uuid columns a restore into another club rewrites with `remap_uuid` (club_id
    excepted: it becomes the new club's id)."""
    remapped: dict[str, set[str]] = {
        t.name: {c for c in t.key_columns & t.uuid_columns if c != CLUB_COLUMN} for t in schema.tables
    }
    changed = True
    while changed:  # a foreign key to a rewritten column is rewritten too, however long the chain
        changed = False
        for fk in schema.foreign_keys:
            if fk.table not in remapped or fk.references not in remapped:
                continue
            for column, referenced in zip(fk.columns, fk.referenced_columns, strict=True):
                if (
                    referenced in remapped[fk.references]
                    and column != CLUB_COLUMN
                    and column not in remapped[fk.table]
                ):
                    remapped[fk.table].add(column)
                    changed = True
    return {name: frozenset(columns) for name, columns in remapped.items()}


def remap_uuid(club_id: uuid.UUID, value: uuid.UUID) -> uuid.UUID:
    """The id a row keyed `value` gets in the club `club_id`: the same for the same pair, different
    for another club (UUIDv5 under the new club's id)."""
    return uuid.uuid5(club_id, value.hex)


@dataclass(frozen=True)
class RowRewriter:
    """Rewrites COPY text rows for a restore into `club_id`: the club column to the new id, the
    remapped columns through `remap_uuid`; NULL (`\\N`) stays NULL."""

    club_id: uuid.UUID
    club_positions: tuple[int, ...]
    remap_positions: tuple[int, ...]

    @classmethod
    def for_columns(
        cls, club_id: uuid.UUID, columns: tuple[str, ...], remapped: frozenset[str]
    ) -> RowRewriter:
        return cls(
            club_id=club_id,
            club_positions=tuple(i for i, c in enumerate(columns) if c == CLUB_COLUMN),
            remap_positions=tuple(i for i, c in enumerate(columns) if c in remapped),
        )

    def rewrite(self, line: bytes) -> bytes:
        """One row of COPY text (without its newline). Tabs inside values are escaped in COPY text,
        so a split on tab finds the fields."""
        fields = line.split(b"\t")
        new_club = str(self.club_id).encode()
        for i in self.club_positions:
            fields[i] = new_club
        for i in self.remap_positions:
            if fields[i] != b"\\N":
                fields[i] = _remap_text(self.club_id, fields[i])
        return b"\t".join(fields)


def _remap_text(club_id: uuid.UUID, field: bytes) -> bytes:
    """`remap_uuid` on a uuid as COPY writes it (lowercase, with hyphens), without the uuid module's
    objects: a clone rewrites millions of them. UUIDv5 is the first 16 bytes of sha1(namespace +
    name) with the version and variant bits set."""
    if len(field) != 36 or field.count(b"-") != 4:
        return str(remap_uuid(club_id, uuid.UUID(field.decode()))).encode()
    digest = bytearray(
        hashlib.sha1(club_id.bytes + field.replace(b"-", b"").lower(), usedforsecurity=False).digest()[:16]
    )
    digest[6] = (digest[6] & 0x0F) | 0x50
    digest[8] = (digest[8] & 0x3F) | 0x80
    h = digest.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()


class LineRewriter:
    """Feeds a COPY text stream in chunks of any size through a RowRewriter, holding back only the
    unfinished last line of each chunk."""

    def __init__(self, rewriter: RowRewriter) -> None:
        self._rewriter = rewriter
        self._partial = b""

    def feed(self, chunk: bytes) -> bytes:
        data = self._partial + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return b""
        self._partial = data[cut + 1 :]
        return b"".join(self._rewriter.rewrite(line) + b"\n" for line in data[:cut].split(b"\n"))

    def finish(self) -> bytes:
        if self._partial:
            raise ValueError("the table's rows end in the middle of a row")
        return b""
