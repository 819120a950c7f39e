"""Names and labels of everything the operator creates for a Club, derived from the Club alone.

Names never change once derived (the CRD makes the user-chosen ones immutable too), so a renamed
rule here would orphan existing tenants: change with care.

The names of a Club's role, dedicated database, bucket and S3 user are injective in
(namespace, name): two Clubs never derive the same one. The plain form, `club_<namespace>_<name>`
(`club-<namespace>-<name>` for S3), is kept where it can be read back unambiguously: a namespace
without '-' (it then ends at the first separator) and a name of words joined by single '-'. Any
other Club (`team-a/x` and `team/a-x`, or a name with '.') and any name cut to a server's limit gets
the sanitised stem, a doubled separator and a digest of "namespace/name". A plain name never holds a
doubled separator, so the two forms cannot meet, and two digested names differ in their digests.
A Club provisioned under the older rule (no digest) keeps its names: see `build_names`."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from club_operator.models import ClubSpec

GROUP = "footballclub.io"
VERSION = "v1alpha1"
CLUB_PLURAL = "clubs"
MANAGED_BY = "club-operator"
FINALIZER = f"{GROUP}/finalizer"
# kopf's bookkeeping annotations. A prefix starting with "kopf." is one kopf recognises as its own
# without marking it, so annotations under GROUP stay visible to the handlers.
KOPF_PREFIX = f"kopf.{GROUP}"

_PG_MAX = 63  # bytes of a PostgreSQL identifier (NAMEDATALEN - 1); these names are ASCII
_BUCKET_MAX = 63  # an S3 bucket name; MinIO access keys and policy names allow more
_DIGEST_LEN = 12  # hex digits of sha256: 48 bits, so even a chosen collision costs ~2^48 hashes
_PREFIX = "club"
_K8S_NAME_MAX = 63  # a Service name is a DNS-1035 label; every workload name keeps to the same limit
_CRONJOB_NAME_MAX = 52  # 63 less the "-<minutes since the epoch>" of the Jobs a CronJob makes

APP_NAME = "club-platform"
NAME_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
CLUB_LABEL = f"{GROUP}/club"


def _digest(text: str, length: int = 8) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def _bounded(stem: str, limit: int, separator: str) -> str:
    """`stem` if it fits in `limit`, else its start plus a digest of the whole, so names stay unique."""
    if len(stem) <= limit:
        return stem
    digest = _digest(stem)
    return stem[: limit - len(digest) - 1].rstrip(separator) + separator + digest


def pg_identifier(*parts: str) -> str:
    """A lowercase PostgreSQL identifier (role or database name) of at most 63 bytes."""
    stem = "_".join(re.sub(r"[^a-z0-9]+", "_", p.lower()).strip("_") for p in parts)
    return _bounded(stem, _PG_MAX, "_")


def s3_name(*parts: str) -> str:
    """A valid S3 bucket or user name: lowercase letters, digits and hyphens, at most 63 characters."""
    stem = "-".join(re.sub(r"[^a-z0-9]+", "-", p.lower()).strip("-") for p in parts)
    return _bounded(stem, _BUCKET_MAX, "-")


_ONE_WORD = re.compile(r"[a-z0-9]+")
_WORDS = re.compile(r"[a-z0-9]+(-[a-z0-9]+)*")


def club_name(namespace: str, name: str, *, separator: str, limit: int) -> str:
    """The injective name of a Club's external resource (see the module's docstring)."""
    plain = separator.join((_PREFIX, namespace, name.replace("-", separator)))
    readable = _ONE_WORD.fullmatch(namespace) is not None and _WORDS.fullmatch(name) is not None
    if readable and len(plain) <= limit:
        return plain
    stem = separator.join(
        re.sub(r"[^a-z0-9]+", separator, part.lower()).strip(separator) for part in (_PREFIX, namespace, name)
    )
    digest = _digest(f"{namespace}/{name}", _DIGEST_LEN)
    marker = separator * 2
    return stem[: limit - len(marker) - len(digest)].rstrip(separator) + marker + digest


def _legacy_role(namespace: str, name: str) -> str:
    """The role (and dedicated database) name before names were made injective."""
    return pg_identifier(_PREFIX, namespace, name)


def pg_club_name(namespace: str, name: str) -> str:
    """The Club's role, and its database when dedicated."""
    return club_name(namespace, name, separator="_", limit=_PG_MAX)


def s3_club_name(namespace: str, name: str) -> str:
    """The Club's derived bucket and its S3 user."""
    return club_name(namespace, name, separator="-", limit=_BUCKET_MAX)


@dataclass(frozen=True)
class ClubNames:
    """Every name the operator derives for one Club."""

    namespace: str
    name: str
    database: str
    role: str
    bucket: str
    s3_user: str
    s3_policy: str
    database_secret: str
    storage_secret: str
    jwt_secret: str
    owner_secret: str

    @property
    def slug(self) -> str:
        return f"{self.namespace}/{self.name}"

    def _object(self, suffix: str) -> str:
        return _bounded(f"{self.name}-{suffix}", _K8S_NAME_MAX, "-")

    @property
    def backup_s3_user(self) -> str:
        """The club's backup writer on the S3 server (backup_storage.py). A doubled separator keeps it
        apart from every Club's own S3 user: a plain one never holds "--", and a digested one ends in
        hex digits, never in "backup"."""
        return f"{self.s3_user}--backup"

    @property
    def backup_s3_policy(self) -> str:
        """The backup writer's policy (MinIO keeps users and policies apart, so the same name)."""
        return self.backup_s3_user

    @property
    def backup_secret(self) -> str:
        """The backup writer's credentials and where backups go, for the club's backup Jobs."""
        return self._object("backup")

    @property
    def api(self) -> str:
        """The API's Deployment, and its HPA, PodDisruptionBudget and NetworkPolicy."""
        return self._object("api")

    @property
    def api_service(self) -> str:
        return self._object("api")

    @property
    def redis_secret(self) -> str:
        return f"{self.name}-redis"

    @property
    def config_map(self) -> str:
        return self._object("config")

    def worker(self, pool: str) -> str:
        """A worker pool's Deployment and its ScaledObject or HPA: `<club>-worker-<pool>`."""
        return self._object(f"worker-{pool}")

    @property
    def workers_network_policy(self) -> str:
        return self._object("workers")

    @property
    def backup_cronjob(self) -> str:
        """The CronJob that runs the Club's scheduled backups (`<club>-backup`), at most 52 characters:
        the CronJob controller names its Jobs `<cronjob>-<11 digits>`, and a longer name is refused."""
        return _bounded(f"{self.name}-backup", _CRONJOB_NAME_MAX, "-")

    @property
    def redis_trigger_auth(self) -> str:
        """KEDA's TriggerAuthentication for the club's Redis."""
        return self._object("redis")

    def labels(self, component: str | None = None) -> dict[str, str]:
        """Labels of every object made for the Club; with `component`, those of one workload's objects."""
        labels = {
            "app.kubernetes.io/managed-by": MANAGED_BY,
            "app.kubernetes.io/part-of": APP_NAME,
            CLUB_LABEL: self.name,
        }
        if component is not None:
            labels.update(self.selector(component))
        return labels

    def selector(self, component: str) -> dict[str, str]:
        """The pods of one component of this Club. A Deployment's selector cannot change: keep these."""
        return {NAME_LABEL: APP_NAME, COMPONENT_LABEL: component, CLUB_LABEL: self.name}


def build_names(
    namespace: str, name: str, spec: ClubSpec, shared_database: str, *, provisioned_role: str | None = None
) -> ClubNames:
    """`provisioned_role`: the role the Club's status reports. A Club provisioned before names were
    made injective (its role is the old rule's, `pg_identifier("club", namespace, name)`) keeps the
    old rule's names for its role, dedicated database, derived bucket and S3 user: names never change
    once derived. The hint selects only between the two rules for this same Club, and the ownership
    records decide whether what they name may be used."""
    role = pg_club_name(namespace, name)
    user = s3_club_name(namespace, name)
    if (
        provisioned_role is not None
        and provisioned_role != role
        and provisioned_role == _legacy_role(namespace, name)
    ):
        role, user = provisioned_role, s3_name(_PREFIX, namespace, name)
    database = role if spec.database.dedicated else spec.database.shared_database_name or shared_database
    return ClubNames(
        namespace=namespace,
        name=name,
        database=database,
        role=role,
        bucket=spec.storage.bucket or user,
        s3_user=user,
        s3_policy=f"{user}-bucket",
        database_secret=f"{name}-database",
        storage_secret=f"{name}-storage",
        jwt_secret=f"{name}-jwt",
        owner_secret=f"{name}-owner",
    )
