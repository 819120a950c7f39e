"""The bootstrap owner's password's rotation plan (rotation.OWNER_PASSWORD): a person's password,
so no overlap. Pure: no clock, no I/O (the caller passes `now` and the new password's id).

The Secret `<club>-owner` holds it; the owner's row in public.users (the runtime creates it from the
Secret once) holds its hash, and that row is what a login checks. A rotation replaces both, the
Secret first (keeping the password it replaces as `previous-password` until the row is changed, so a
crash between the two leaves what the next reconcile needs to finish). Issued and Revoked at once:
the row accepts the new password and refuses the old from the same statement on; Propagated then too
(the API reads the row at each login; no pod needs to roll). Only while the row still accepts the
Secret's password: one the owner chose is theirs, not rotated. owner_rotation.py carries out each
step."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from club_operator.rotation import Phase, Record


class Row(enum.Enum):
    """What the owner's row accepts, as read (with the runtime's own password check)."""

    ABSENT = "absent"  # the API has not created the owner's account yet
    CURRENT = "current"  # the Secret's password
    PREVIOUS = "previous"  # the password the Secret keeps as previous-password
    OTHER = "other"  # neither: the owner set a password of their own


class OwnerWrite(enum.Enum):
    NONE = "none"
    ISSUE = "issue"  # a new password in the Secret (the current one kept as previous), then the row
    FINISH = "finish"  # the row to the Secret's password, then the previous one cleared
    CLEAR = "clear"  # the previous one cleared from the Secret


@dataclass(frozen=True)
class OwnerPlan:
    record: Record
    write: OwnerWrite
    events: tuple[str, ...] = ()
    request_handled: bool = False


def owner_needs_row(record: Record | None, *, has_previous: bool, now: datetime, request: str | None) -> bool:
    """Whether this step must read the owner's row (a password check costs an Argon2 hash: only
    when a rotation is due, asked for, or in flight)."""
    return has_previous or request is not None or record is None or now >= record.next_rotation


def plan_owner(
    record: Record | None,
    *,
    current_id: str,
    previous_id: str | None,
    row: Row | None,
    now: datetime,
    interval: timedelta,
    request: str | None,
    new_id: str,
) -> OwnerPlan:
    """One reconcile's step for the owner's password. `previous_id`: the id of the Secret's
    previous-password (None when cleared); `row`: what the owner's row accepts (None: not read)."""
    events: list[str] = []
    if previous_id is not None:
        # A rotation written to the Secret, not yet (or not known to be) carried to the row.
        if record is None or record.kid != current_id:
            taken = request if request is not None else (record.request if record else None)
            record = Record(
                Phase.ISSUED, current_id, previous_id, now, now + interval, "adopted", request=taken
            )
        done = dataclasses.replace(record, phase=Phase.REVOKED, propagated=now, revoked=now)
        if row == Row.PREVIOUS:
            events.append(
                f"owner password {current_id} in place: the owner's account refuses password {previous_id}"
            )
            return OwnerPlan(done, OwnerWrite.FINISH, tuple(events), request_handled=request is not None)
        if row == Row.OTHER:
            events.append(
                f"owner password {current_id} not carried to the owner's account: it holds a password "
                "of the owner's own"
            )
        return OwnerPlan(done, OwnerWrite.CLEAR, tuple(events), request_handled=request is not None)
    if record is None or record.kid != current_id:
        taken = record.request if record is not None else None
        record = Record(
            Phase.PROPAGATED, current_id, None, now, now + interval, "initial", propagated=now, request=taken
        )
    record = dataclasses.replace(record, next_rotation=record.issued + interval)
    if request is None and now < record.next_rotation:
        return OwnerPlan(record, OwnerWrite.NONE)
    reason = "requested" if request is not None else "scheduled"
    if row == Row.CURRENT:
        why = f"{reason}: {request}" if request is not None else reason
        issued = Record(
            Phase.REVOKED,
            new_id,
            current_id,
            now,
            now + interval,
            reason,
            propagated=now,
            revoked=now,
            request=request if request is not None else record.request,
        )
        events.append(
            f"issued owner password {new_id} ({why}): the owner's account accepts it and refuses "
            f"password {current_id} at once (a person's password has no overlap)"
        )
        return OwnerPlan(issued, OwnerWrite.ISSUE, tuple(events), request_handled=request is not None)
    if row == Row.OTHER:
        # Nothing of the operator's logs in as the owner any more: nothing to rotate until the next time.
        skipped = dataclasses.replace(
            record,
            issued=now,  # when it was last looked at: the schedule counts from there
            next_rotation=now + interval,
            reason="owner-chosen",
            request=request if request is not None else record.request,
        )
        events.append(
            "owner password not rotated: the owner's account holds a password of the owner's own "
            "(the bootstrap password in the Secret no longer logs in)"
        )
        return OwnerPlan(skipped, OwnerWrite.NONE, tuple(events), request_handled=request is not None)
    return OwnerPlan(record, OwnerWrite.NONE)  # no account yet (or not read): wait for it
