"""Who owns a Club's external resources, and whether a Club may use one it finds.

Every role, dedicated database and bucket the operator makes records its owner: the Club's
namespace, name and uid, and the tenant id its rows and object keys carry. PostgreSQL keeps the
record as the object's comment (`COMMENT ON ROLE / DATABASE`: a club role, NOCREATEROLE and owning
no database, cannot write one), the bucket as tags (the club's S3 policy grants no
s3:PutBucketTagging). A MinIO user has no record of its own: it belongs to the owner of the one
bucket its policy grants.

`judge` is the single rule, pure: a resource that does not exist is free; one recorded for this
Club's uid is its own; one recorded for an earlier Club of the same namespace and name (deleted
with deletionPolicy Retain) is taken back only when the spec says so (`spec.adopt`), keeping the
tenant id its data carries; anything else is a Conflict, and the operator leaves it untouched."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MANAGED_BY = "club-operator"
# Bucket tag keys (S3 allows letters, digits and + - = . _ : / @ in a key).
TAG_NAMESPACE = "footballclub.io/namespace"
TAG_NAME = "footballclub.io/name"
TAG_UID = "footballclub.io/uid"
TAG_TENANT = "footballclub.io/tenant"
TAG_KEYS = (TAG_NAMESPACE, TAG_NAME, TAG_UID, TAG_TENANT)


@dataclass(frozen=True)
class Owner:
    """A Club as an ownership record names it. `tenant` is the club_id of its rows and object keys:
    the uid of the Club that first made the resource, kept when a later Club adopts it."""

    namespace: str
    name: str
    uid: str
    tenant: str

    def to_comment(self) -> str:
        return json.dumps(
            {
                "managedBy": MANAGED_BY,
                "namespace": self.namespace,
                "name": self.name,
                "uid": self.uid,
                "tenant": self.tenant,
            },
            sort_keys=True,
        )

    @classmethod
    def from_comment(cls, text: str | None) -> Owner | None:
        """The record in a PostgreSQL comment; None when there is none (or it is not ours)."""
        try:
            found = json.loads(text or "")
        except ValueError:
            return None
        return cls._from(found) if isinstance(found, dict) and found.get("managedBy") == MANAGED_BY else None

    def to_tags(self) -> dict[str, str]:
        return dict(zip(TAG_KEYS, (self.namespace, self.name, self.uid, self.tenant), strict=True))

    @classmethod
    def from_tags(cls, tags: dict[str, str]) -> Owner | None:
        if not all(key in tags for key in TAG_KEYS):
            return None
        return cls(tags[TAG_NAMESPACE], tags[TAG_NAME], tags[TAG_UID], tags[TAG_TENANT])

    @classmethod
    def _from(cls, found: dict[str, Any]) -> Owner | None:
        values = [found.get(key) for key in ("namespace", "name", "uid", "tenant")]
        if not all(isinstance(v, str) and v for v in values):
            return None
        return cls(*(str(v) for v in values))

    def adopting(self, previous: Owner) -> Owner:
        """This Club as the new owner of `previous`'s resource: the data keeps its tenant id."""
        return Owner(self.namespace, self.name, self.uid, previous.tenant)


@dataclass(frozen=True)
class Found:
    """What the server holds under a name: whether it exists, and its record if it has one.
    `ours_unrecorded`: it has no record, but the server shows the operator made it for this Club
    (a crash between creating it and recording the owner, or an operator older than records)."""

    exists: bool
    record: Owner | None = None
    ours_unrecorded: bool = False


class Conflict(Exception):
    """The resource belongs to another Club (or to no Club): the message names it, never a secret."""


@dataclass(frozen=True)
class Claim:
    """A Club may use the resource: as `owner` (its record once written) and whether to write it."""

    owner: Owner
    write: bool


def judge(kind: str, resource: str, found: Found, club: Owner, *, adopt: bool, adopt_field: str) -> Claim:
    """May `club` use this resource? Raises Conflict when not. `club.tenant` is the Club's own uid."""
    record = found.record
    if not found.exists:
        return Claim(club, write=True)
    if record is None:
        if found.ours_unrecorded:
            return Claim(club, write=True)
        raise Conflict(
            f"{kind} {resource} already exists and records no owning Club: the operator leaves it "
            "untouched (drop or rename it, or choose another name)"
        )
    if record.uid == club.uid:
        return Claim(record, write=False)
    if (record.namespace, record.name) != (club.namespace, club.name):
        raise Conflict(f"{kind} {resource} belongs to another Club: the operator leaves it untouched")
    if not adopt:
        raise Conflict(
            f"{kind} {resource} was kept (deletionPolicy Retain) by an earlier Club of this name; set "
            f"spec.adopt.{adopt_field}: true to take it back with its data, or drop it"
        )
    return Claim(club.adopting(record), write=True)
