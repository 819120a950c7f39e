"""The pure parts of backups: the order tables load in (parents first, stable, cycles refused), the
columns a restore into another club rewrites, and the rewriting of COPY text rows."""

from __future__ import annotations

import uuid

import pytest

from club_runtime.backup import plan

FK = plan.ForeignKey


def _schema() -> plan.Schema:
    """The shape of the runtime's schema: clubs at the root, keys (club_id, id), composite foreign keys."""
    tables = (
        plan.Table(
            "clubs", ("club_id", "slug"), frozenset({"club_id"}), frozenset({"club_id", "slug"}), ("club_id",)
        ),
        plan.Table(
            "players",
            ("id", "club_id", "team_id", "name"),
            frozenset({"id", "club_id", "team_id"}),
            frozenset({"id", "club_id"}),
            ("id",),
        ),
        plan.Table(
            "teams",
            ("id", "club_id", "name"),
            frozenset({"id", "club_id"}),
            frozenset({"id", "club_id"}),
            ("id",),
        ),
        plan.Table(
            "users",
            ("id", "club_id", "player_id", "email"),
            frozenset({"id", "club_id", "player_id"}),
            frozenset({"id", "club_id", "email"}),
            ("id",),
        ),
        plan.Table(
            "attendance",
            ("club_id", "session_ref", "player_id", "note_id"),
            frozenset({"club_id", "player_id", "note_id"}),
            frozenset({"club_id", "player_id", "session_ref"}),
            ("club_id", "session_ref", "player_id"),
        ),
    )
    fks = (
        FK("players", ("club_id",), "clubs", ("club_id",)),
        FK("players", ("club_id", "team_id"), "teams", ("club_id", "id")),
        FK("teams", ("club_id",), "clubs", ("club_id",)),
        FK("users", ("club_id", "player_id"), "players", ("club_id", "id")),
        FK("attendance", ("club_id", "player_id"), "players", ("club_id", "id")),
    )
    return plan.Schema(tables, fks)


def test_tables_load_after_the_tables_they_reference() -> None:
    schema = _schema()

    order = plan.load_order(schema.names, schema.foreign_keys)

    assert order == ["clubs", "teams", "players", "attendance", "users"]
    for fk in schema.foreign_keys:
        assert order.index(fk.references) < order.index(fk.table)


def test_load_order_ignores_self_references_and_outside_tables() -> None:
    fks = [
        FK("a", ("p",), "a", ("id",)),
        FK("b", ("x",), "elsewhere", ("id",)),
        FK("b", ("a_id",), "a", ("id",)),
    ]

    assert plan.load_order(["b", "a"], fks) == ["a", "b"]


def test_a_cycle_of_foreign_keys_is_refused() -> None:
    fks = [FK("a", ("b",), "b", ("id",)), FK("b", ("c",), "c", ("id",)), FK("c", ("a",), "a", ("id",))]

    with pytest.raises(plan.PlanError, match="a, b, c form a cycle"):
        plan.load_order(["a", "b", "c", "d"], fks)


def test_keys_and_the_columns_pointing_at_them_are_remapped_never_club_id() -> None:
    remapped = plan.remapped_columns(_schema())

    assert remapped == {
        "clubs": frozenset(),
        "players": {"id", "team_id"},
        "teams": {"id"},
        "users": {"id", "player_id"},
        "attendance": {"player_id"},  # a foreign key to players.id; note_id is no key: kept
    }


def test_remapped_ids_agree_across_tables_and_differ_between_clubs() -> None:
    old = uuid.uuid4()
    club_a, club_b = uuid.uuid4(), uuid.uuid4()

    assert plan.remap_uuid(club_a, old) == plan.remap_uuid(club_a, old)
    assert plan.remap_uuid(club_a, old) != plan.remap_uuid(club_b, old)
    assert plan.remap_uuid(club_a, old) != old


def test_a_row_is_rewritten_into_the_new_club() -> None:
    club = uuid.uuid4()
    old_club, old_id, old_player = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rewriter = plan.RowRewriter.for_columns(
        club, ("id", "club_id", "player_id", "email"), frozenset({"id", "player_id"})
    )
    line = f"{old_id}\t{old_club}\t{old_player}\ta\\tb@x".encode()

    fields = rewriter.rewrite(line).split(b"\t")

    assert fields == [
        str(plan.remap_uuid(club, old_id)).encode(),
        str(club).encode(),
        str(plan.remap_uuid(club, old_player)).encode(),
        b"a\\tb@x",
    ]
    assert rewriter.rewrite(f"{old_id}\t{old_club}\t\\N\tx".encode()).split(b"\t")[2] == b"\\N"


def test_the_rewriter_remaps_as_remap_uuid_does() -> None:
    club = uuid.uuid4()
    rewriter = plan.RowRewriter.for_columns(club, ("id",), frozenset({"id"}))
    olds = [uuid.uuid4() for _ in range(200)]

    assert [rewriter.rewrite(str(old).encode()) for old in olds] == [
        str(plan.remap_uuid(club, old)).encode() for old in olds
    ]
    assert rewriter.rewrite(str(olds[0]).upper().encode()) == str(plan.remap_uuid(club, olds[0])).encode()


def test_lines_split_across_chunks_are_rewritten_whole() -> None:
    club = uuid.uuid4()
    rewriter = plan.RowRewriter.for_columns(club, ("club_id", "name"), frozenset())
    stream = b"".join(f"{uuid.uuid4()}\tname {i}\n".encode() for i in range(50))
    lines = plan.LineRewriter(rewriter)

    out = b"".join(lines.feed(stream[i : i + 7]) for i in range(0, len(stream), 7)) + lines.finish()

    assert out == b"".join(f"{club}\tname {i}\n".encode() for i in range(50))


def test_a_stream_ending_mid_row_is_an_error() -> None:
    lines = plan.LineRewriter(plan.RowRewriter.for_columns(uuid.uuid4(), ("club_id",), frozenset()))
    lines.feed(b"abc")

    with pytest.raises(ValueError, match="middle of a row"):
        lines.finish()
