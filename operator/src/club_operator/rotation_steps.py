"""What every credential's rotation step does first and last: read where its rotation stands (the
status record, from the Club as the handler got it or as this process last wrote it, and the
footballclub.io/rotate request it has still to take up), and report where it stands now (the
request taken up, its Events, its status record, its metric and, for the service credentials, its
part of SecretsRotated)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from club_operator import metrics, rotation, rotation_condition, status_writer
from club_operator.club import Context
from club_operator.outcome import Outcome


@dataclass(frozen=True)
class Standing:
    copies: tuple[Any, Any]  # the record as the body holds it, and as this process last wrote it
    record: rotation.Record | None  # the newer of the two
    request: str | None  # a rotate request this credential has still to take up


def standing(ctx: Context, credential: str) -> Standing:
    club = ctx.club
    _, known = status_writer.current_status(club.uid, None)  # newer than the body's, when written here
    copies = ((club.rotation or {}).get(credential), (known.get("rotation") or {}).get(credential))
    record = rotation.newest(*(rotation.from_status(copy) for copy in copies))
    handled = known.get("lastRotateRequest") or club.rotate_request_handled
    return Standing(copies, record, rotation.pending_request(club.rotate_request, record, handled))


def report(
    ctx: Context,
    out: Outcome,
    credential: str,
    at: Standing,
    planned: rotation.Record,
    *,
    request_handled: bool,
    events: list[str] | tuple[str, ...],
) -> None:
    """The request taken up, the step's Events, the status record and the last-rotation metric."""
    if request_handled:
        out.fields["lastRotateRequest"] = ctx.club.rotate_request
    for event in events:
        out.changed("rotation", event)
    out.fields.setdefault("rotation", {})[credential] = rotation.status_patch(planned, *at.copies)
    metrics.SECRET_LAST_ROTATION.labels(ctx.names.namespace, ctx.names.name, credential).set(
        planned.issued.timestamp()
    )


def report_service(
    ctx: Context,
    out: Outcome,
    credential: str,
    at: Standing,
    plan: rotation.Plan,
    *,
    events: list[str],
    phrases: rotation_condition.Phrases,
) -> None:
    """`report` for a service credential (Redis, database, S3), with its part of SecretsRotated."""
    report(ctx, out, credential, at, plan.record, request_handled=plan.request_handled, events=events)
    rotation_condition.merge_record(out, plan.record, rotation_condition.service_policy(ctx), phrases)
