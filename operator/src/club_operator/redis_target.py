"""Where a Club's workers find Redis, as the runtime (a URL) and KEDA (address, password, database)
each need it, and what a Club may do there. Pure.

Clubs share one Redis server and are kept apart by Redis itself: each Club has an ACL user of its
own that may touch only the keys (and Pub/Sub channels) under the Club's prefix, and run only the
commands RQ, redis-py's lock and KEDA's scaler send. Every key RQ builds starts with RQ_KEY_PREFIX
(rq/defaults.py: queues, jobs, results, registries, workers, executions, the scheduler's locks, the
`<prefix>:pubsub:<worker>` channel of stop commands), and the runtime's lease lives there too, so
the Club's pods run with RQ_KEY_PREFIX set to the Club's prefix and nothing of theirs lies outside."""

from __future__ import annotations

import hashlib
import re
import urllib.parse
from dataclasses import dataclass


@dataclass(frozen=True)
class RedisTarget:
    url: str
    address: str
    password: str
    database: int


def parse_redis_url(url: str) -> RedisTarget:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss") or not parts.hostname:
        raise ValueError("the Redis URL must look like redis://[:password@]host[:port][/db]")
    path = parts.path.strip("/")
    return RedisTarget(
        url=url,
        address=f"{parts.hostname}:{parts.port or 6379}",
        password=urllib.parse.unquote(parts.password or ""),
        database=int(path) if path.isdigit() else 0,
    )


def with_user(url: str, username: str, password: str) -> str:
    """`url` logging in as `username` with `password` (the server's host, port and database kept)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    auth = f"{urllib.parse.quote(username, safe='')}:{urllib.parse.quote(password, safe='')}"
    return urllib.parse.urlunsplit((parts.scheme, f"{auth}@{netloc}", parts.path, parts.query, ""))


def with_database(url: str, database: int) -> str:
    """`url` on database `database` (redis-py prefers the URL's database to a `db` argument)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, f"/{database}", parts.query, ""))


_PLAIN = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?")


def club_prefix(namespace: str, name: str) -> str:
    """The Club's key prefix (RQ_KEY_PREFIX of its pods) and the name of its ACL user.

    `club:<namespace>.<name>`, injective: a namespace is a DNS label, so it holds no '.', and the
    first '.' splits the pair back. Anything else (a name the CRD would refuse) gets its sanitised
    stem and '_' plus a digest of "namespace/name"; a plain pair never holds '_', so the forms cannot
    meet. A key is `<prefix>:<rest>`, and neither form holds ':', so one Club's pattern `<prefix>:*`
    matches no key of another. Only letters, digits and `.-_:` appear: RQ accepts those in a
    prefix, and none is special in an ACL glob."""
    if _PLAIN.fullmatch(namespace) and _PLAIN.fullmatch(name):
        return f"club:{namespace}.{name}"
    stem = ".".join(re.sub(r"[^a-z0-9-]+", "-", part.lower()).strip("-") for part in (namespace, name))
    digest = hashlib.sha256(f"{namespace}/{name}".encode()).hexdigest()[:12]
    return f"club:{stem[:100]}_{digest}"


# Every command the Club's pods send, and nothing else: RQ 3's queues, jobs, registries, results
# (streams), workers and scheduler; redis-py's connection setup and its Lock (the lease); KEDA's
# redis scaler (EVAL of a script that calls TYPE, then LLEN or ZCARD). Not INFO (server-wide figures;
# RQ falls back without it), KEYS, SCAN, FLUSH*, CONFIG, ACL, DEBUG, MONITOR, CLIENT LIST/KILL or
# SCRIPT FLUSH/KILL. EVALSHA and SCRIPT LOAD run RQ's and redis-py's Lua scripts, EVAL KEDA's; Redis
# checks each command a script calls against the same rules, so a script reaches no more than its
# caller.
RQ_COMMANDS = (
    "ping", "hello", "client|setname", "client|getname", "client|info",
    "exists", "type", "del", "unlink", "rename", "expire", "pexpire", "persist", "ttl", "pttl",
    "get", "set",
    "hget", "hset", "hgetall", "hmget", "hexists", "hdel", "hincrby", "hincrbyfloat",
    "lpush", "rpush", "lpop", "blpop", "lmove", "blmove", "lrem", "lrange", "llen", "lpos",
    "sadd", "srem", "smembers", "scard", "sismember",
    "zadd", "zrem", "zrange", "zrangebyscore", "zremrangebyscore", "zremrangebyrank", "zcard", "zscore",
    "xadd", "xrevrange", "xread", "xlen",
    "multi", "exec", "discard", "watch", "unwatch",
    "eval", "evalsha", "script|load", "script|exists",
    "subscribe", "unsubscribe", "publish",
)  # fmt: skip


def acl_rules(prefix: str, password_sha256: str, *, database: int) -> tuple[str, ...]:
    """The ACL SETUSER rules of a Club's user, whole (starting from `reset`): one password (by its
    SHA-256, so the password itself never travels in a command), the Club's keys and channels,
    RQ's commands. SELECT only when the URL names a database other than 0."""
    commands = (*RQ_COMMANDS, "select") if database else RQ_COMMANDS
    return (
        "reset",
        "on",
        f"#{password_sha256}",
        f"~{prefix}:*",
        f"&{prefix}:*",  # channel rules (Pub/Sub) need Redis 6.2 or later
        "-@all",
        *(f"+{c}" for c in commands),
    )


OPERATOR_READER = "club-operator-reader"


def reader_rules(password_sha256: str, *, database: int) -> tuple[str, ...]:
    """The operator's read-only view of the clubs' job status: every Club's job hashes and results,
    read only (`%R~`, Redis 7), with the two commands that read them (and SELECT for a database
    other than 0). What the operator writes (a VideoJob's job, its cancel or stop, its removal)
    goes through its own connection."""
    select = ("+select",) if database else ()
    return (
        "reset",
        "on",
        f"#{password_sha256}",
        "%R~club:*:job:*",
        "%R~club:*:results:*",
        "-@all",
        "+hello",
        "+ping",
        "+hgetall",
        "+xrevrange",
        *select,
    )


def password_sha256(password: str) -> str:
    return hashlib.sha256(password.encode()).hexdigest()


def queue_name(namespace: str, club: str, pool: str) -> str:
    """Each Club's queues are its own, even when Clubs share one Redis."""
    return f"{namespace}.{club}.{pool}"


# The video pool's queues. RQ's worker takes from the first non-empty queue in the order it was
# given, so a priority is a queue of its own: `<video>.high`, `<video>` (normal: where the API's
# uploads go), `<video>.low`. Jobs that must have a GPU go to `<video>.gpu`, which only GPU workers
# listen on (first, since nothing else can take those jobs); high ones go to its front.
HIGH, LOW, GPU = "high", "low", "gpu"


def video_queues(video_queue: str, *, gpu_workers: bool) -> tuple[str, ...]:
    """The queues the video workers listen on, in the order they take jobs from them."""
    by_priority = (f"{video_queue}.{HIGH}", video_queue, f"{video_queue}.{LOW}")
    return (f"{video_queue}.{GPU}", *by_priority) if gpu_workers else by_priority


def video_queue_for(video_queue: str, *, priority: str, gpu_required: bool) -> tuple[str, bool]:
    """Where a video job goes: (queue, whether at the front of it)."""
    if gpu_required:
        return f"{video_queue}.{GPU}", priority == HIGH
    if priority in (HIGH, LOW):
        return f"{video_queue}.{priority}", False
    return video_queue, False
