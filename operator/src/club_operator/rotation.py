"""Rotating a Club's credentials in phases, from what a reconcile observes. Pure: no clock, no I/O,
no randomness (the caller passes `now` and the new key's id).

Each credential has one record in the Club's status (`status.rotation.<credential>`), and the record
plus what the reconcile reads (the Secret, the API Deployment's rollout) is all the state there is:
an operator restarted in the middle of a rotation picks it up where the record and the Secret say,
without issuing a second credential and without revoking early.

    Issued      the new credential is in the Secret. For a JWT key: first it only verifies; once every
                API pod has it, it is made the signer (no pod then meets a token signed with a key it
                does not know: an old pod would refuse one a new pod signed, were it the signer at once).
    Propagated  every pod runs with it as the signer (the API Deployment rolled out the template that
                carries that key set: observed, every pod updated, none of an older one left, all
                available). From then on the previous key signs nothing.
    Revoked     the previous credential is gone from the Secret and every pod runs without it: it is
                refused.

A rotation starts only from a settled record (Revoked, or Propagated with no previous credential:
the first key of a new Club), so at most two keys exist at once. The previous one is removed only
once the new one is Propagated *and* both `overlap` has passed and every token it signed has
expired: its last token was signed at the latest when the last pod that signed with it went away
(`propagated`), and lives at most the runtime's token lifetime. Never Revoked before Propagated.

Each step's write (a key added, made the signer, or the previous removed) changes the key set, so the
next reconcile rolls the API pods again; the step after waits for that rollout.

For JWT signing keys the credential's id is the key's `kid` (never the key itself).

The Redis password (REDIS_PASSWORD) goes through the same phases with no Activate step: Redis keeps
several passwords on one ACL user, so the new one is added to the Club's user and made the Secret's
at once (Issued), every API and worker pod then rolls onto it (Propagated), and after `overlap` the
previous one is removed from the user (Revoked: Redis refuses it). Its id is derived from the
password (credentials.redis_password_id), never the password.

The S3 access key (S3_ACCESS_KEY) goes the same way: the new key is made on the Club's other S3 user
and put in the Secret (Issued), every API and worker pod rolls onto it (Propagated), and after
`overlap` the user of the previous key is deleted (Revoked: the server refuses it). See s3_rotation.py.

Each record also keeps the last footballclub.io/rotate value its credential took up (`request`), so
one request rotates every credential once, whichever of them is free to start first."""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

JWT_SIGNING_KEY = "jwtSigningKey"
REDIS_PASSWORD = "redisPassword"  # noqa: S105  (a status key, not a password)
S3_ACCESS_KEY = "s3AccessKey"
_TIME = "%Y-%m-%dT%H:%M:%SZ"


class Phase(enum.StrEnum):
    ISSUED = "Issued"
    PROPAGATED = "Propagated"
    REVOKED = "Revoked"


class Action(enum.Enum):
    """What the caller writes to the key set."""

    NONE = "none"
    ISSUE = "issue"  # add a new key that verifies but does not sign yet
    ACTIVATE = "activate"  # make the new key the signer
    REVOKE = "revoke"  # remove every key but the signer


@dataclass(frozen=True)
class Wording:
    """How a credential's Events read: format strings over {kid}, {previous} and {why}."""

    adopted: str
    propagated: str
    revoked: str
    issued: str
    activated: str
    revoking: str


JWT_WORDING = Wording(
    adopted="took up JWT signing key {kid}, found in the key set but not yet recorded",
    propagated="JWT signing key {kid} propagated: every API pod signs with it",
    revoked="JWT signing key {previous} revoked: every API pod refuses tokens it signed",
    issued="issued JWT signing key {kid} ({why}); key {previous} signs until every API pod has both",
    activated="JWT signing key {kid} is known to every API pod: made the signer",
    revoking="removing JWT signing key {previous} from the key set",
)
REDIS_WORDING = Wording(
    adopted="took up Redis password {kid}, found in the Secret but not yet recorded",
    propagated="Redis password {kid} propagated: every API and worker pod logs in with it",
    revoked="Redis password {previous} revoked: the club's Redis user no longer accepts it",
    issued=(
        "issued Redis password {kid} ({why}); password {previous} keeps working until every pod "
        "logs in with the new one and the overlap has passed"
    ),
    activated="Redis password {kid} made the Secret's",  # never: issued in the Secret at once
    revoking="removing Redis password {previous} from the club's Redis user",
)
S3_WORDING = Wording(
    adopted="took up S3 access key {kid}, found in the Secret but not yet recorded",
    propagated="S3 access key {kid} propagated: every API and worker pod uses it",
    revoked="S3 access key {previous} revoked: the S3 server no longer accepts it",
    issued=(
        "issued S3 access key {kid} ({why}); key {previous} keeps working until every pod uses the "
        "new one and the overlap has passed"
    ),
    activated="S3 access key {kid} made the Secret's",  # never: issued in the Secret at once
    revoking="removing S3 access key {previous}: its user is deleted from the S3 server",
)

# The database password (db_rotation.py, db_logins.py): two logins that alternate, so the id
# (`<login>:<password id>`) names the login too. Issued: the other login has the new password and
# the Secret names it; Propagated: every pod reading the Secret runs with it and no session of the
# previous login is left; Revoked: the previous login is NOLOGIN, its password removed.
DATABASE_PASSWORD = "databasePassword"  # noqa: S105  (a status key, not a password)
DATABASE_WORDING = Wording(
    adopted="took up database login {kid}, found in the Secret but not yet recorded",
    propagated=(
        "database login {kid} propagated: every pod that reads the database Secret connects with it "
        "and no session of the previous login is left"
    ),
    revoked="database login {previous} revoked: NOLOGIN, its password removed and its sessions ended",
    issued=(
        "issued database login {kid} ({why}); login {previous} keeps working until every pod connects "
        "with the new one and the overlap has passed"
    ),
    activated="database login {kid} made the Secret's",  # never: issued in the Secret at once
    revoking="retiring database login {previous}",
)


@dataclass(frozen=True)
class Policy:
    interval: timedelta  # between the issue of one credential and the next, on schedule
    overlap: timedelta  # the least time the previous credential keeps working once propagated
    lifetime: timedelta  # the longest a token the runtime issues stays valid (zero: no tokens)

    @property
    def keep_previous(self) -> timedelta:
        return max(self.overlap, self.lifetime)


@dataclass(frozen=True)
class Record:
    phase: Phase
    kid: str  # the credential in use (a JWT kid; never a secret)
    previous_kid: str | None  # the one it replaced, while it may still exist
    issued: datetime
    next_rotation: datetime
    reason: str  # initial, scheduled, requested, adopted
    propagated: datetime | None = None
    revoked: datetime | None = None
    request: str | None = None  # the last footballclub.io/rotate value this credential took up

    @property
    def settled(self) -> bool:
        """Nothing left of the last rotation: a new one may start."""
        return self.phase == Phase.REVOKED or (self.phase == Phase.PROPAGATED and self.previous_kid is None)

    def revoke_at(self, policy: Policy) -> datetime | None:
        """When the previous credential may go (None: not before it is Propagated, or none left)."""
        if self.phase != Phase.PROPAGATED or self.previous_kid is None or self.propagated is None:
            return None
        return self.propagated + policy.keep_previous

    def to_status(self) -> dict[str, Any]:
        """The status record (fields without a value left out)."""
        found = {
            "phase": str(self.phase),
            "kid": self.kid,
            "previousKid": self.previous_kid,
            "reason": self.reason,
            "issuedTime": _format(self.issued),
            "propagatedTime": _format(self.propagated),
            "revokedTime": _format(self.revoked),
            "nextRotationTime": _format(self.next_rotation),
            "request": self.request,
        }
        return {k: v for k, v in found.items() if v is not None}


def status_patch(record: Record, *before: Any) -> dict[str, Any]:
    """The record for a merge patch over the copies `before` (as status held them): a field they
    hold a value in that the record has none for is set to None, so that the patch removes it (a
    copy that holds None already, as written, asks for nothing more: the patch settles)."""
    status = record.to_status()
    held = {k for copy in before if isinstance(copy, dict) for k, v in copy.items() if v is not None}
    return status | dict.fromkeys(sorted(held - set(status)))


def from_status(value: Any) -> Record | None:
    """The record as status holds it; None when absent or not one this operator wrote."""
    if not isinstance(value, dict):
        return None
    try:
        issued = _parse(value["issuedTime"])
        next_rotation = _parse(value["nextRotationTime"])
        if issued is None or next_rotation is None:
            return None
        return Record(
            phase=Phase(value["phase"]),
            kid=str(value["kid"]),
            previous_kid=value.get("previousKid") or None,
            issued=issued,
            next_rotation=next_rotation,
            reason=str(value.get("reason") or ""),
            propagated=_parse(value.get("propagatedTime")),
            revoked=_parse(value.get("revokedTime")),
            request=str(value["request"]) if value.get("request") else None,
        )
    except (KeyError, ValueError, TypeError):
        return None


def newest(a: Record | None, b: Record | None) -> Record | None:
    """The later of two copies of a record (the Club as the handler got it may lag behind the
    status this process last wrote): the later issue, then the later phase."""
    if a is None or b is None:
        return a or b
    order = list(Phase)
    return max(a, b, key=lambda r: (r.issued, order.index(r.phase)))


@dataclass(frozen=True)
class Plan:
    record: Record  # as it is once `action` is written
    action: Action
    events: tuple[str, ...] = ()
    request_handled: bool = False


def advance(
    record: Record | None,
    *,
    active_kid: str,
    kids: frozenset[str],
    propagated: bool,
    now: datetime,
    policy: Policy,
    request: str | None,
    new_kid: str,
    wording: Wording = JWT_WORDING,
) -> Plan:
    """One reconcile's step. `active_kid` and `kids`: the key set in the Secret now; `propagated`:
    every API pod runs the template carrying that key set and is Ready; `request`: a rotation asked
    for and not handled yet; `new_kid`: the id a new key would get."""
    events: list[str] = []
    handled = False
    if record is None or record.kid not in kids:
        # A new Club's first key, a Club from before rotation, or a key set replaced by hand: its
        # signer counts as issued now.
        taken = record.request if record is not None else None
        record = Record(Phase.ISSUED, active_kid, None, now, now + policy.interval, "initial", request=taken)
    elif unknown := sorted(kids - {record.kid, record.previous_kid}):
        # The Secret holds a key the record does not name: a rotation was written and the operator
        # stopped before recording it. Take it up rather than issuing a second one.
        taken = request if request is not None else record.request
        record = Record(
            Phase.ISSUED, unknown[-1], record.kid, now, now + policy.interval, "adopted", request=taken
        )
        events.append(wording.adopted.format(kid=record.kid))
        handled = request is not None
    record = dataclasses.replace(record, next_rotation=record.issued + policy.interval)

    # What the rollout shows has happened.
    if propagated and record.phase == Phase.ISSUED and active_kid == record.kid:
        record = dataclasses.replace(record, phase=Phase.PROPAGATED, propagated=now)
        events.append(wording.propagated.format(kid=record.kid))
    if (
        propagated
        and record.phase == Phase.PROPAGATED
        and record.previous_kid is not None
        and record.previous_kid not in kids
    ):
        record = dataclasses.replace(record, phase=Phase.REVOKED, revoked=now)
        events.append(wording.revoked.format(previous=record.previous_kid))

    # What to write next.
    if record.settled and (request is not None or now >= record.next_rotation):
        reason = "requested" if request is not None else "scheduled"
        taken = request if request is not None else record.request
        issued = Record(Phase.ISSUED, new_kid, record.kid, now, now + policy.interval, reason, request=taken)
        why = f"{reason}: {request}" if request is not None else reason
        events.append(wording.issued.format(kid=new_kid, previous=record.kid, why=why))
        return Plan(issued, Action.ISSUE, tuple(events), request_handled=request is not None or handled)
    if propagated and record.phase == Phase.ISSUED and active_kid != record.kid:
        events.append(wording.activated.format(kid=record.kid))
        return Plan(record, Action.ACTIVATE, tuple(events), handled)
    revoke_at = record.revoke_at(policy)
    if revoke_at is not None and now >= revoke_at and record.previous_kid in kids:
        events.append(wording.revoking.format(previous=record.previous_kid))
        return Plan(record, Action.REVOKE, tuple(events), handled)
    return Plan(record, Action.NONE, tuple(events), handled)


def pending_request(annotation: str | None, record: Record | None, handled: str | None) -> str | None:
    """The footballclub.io/rotate value this credential has still to take up: the annotation, unless
    the credential's record took it up already, or (a record that took none up yet) the Club's
    status.lastRotateRequest names it."""
    if not annotation:
        return None
    taken = record.request if record is not None and record.request else handled
    return None if annotation == taken else annotation


def _format(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime(_TIME)


def _parse(value: Any) -> datetime | None:
    if not value:
        return None
    return datetime.strptime(str(value), _TIME).replace(tzinfo=UTC)


# The bootstrap owner's password: a status key like the others; its plan is owner_plan.py's.
OWNER_PASSWORD = "ownerPassword"  # noqa: S105  (a status key, not a password)
