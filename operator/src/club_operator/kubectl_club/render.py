"""How the plugin prints: kubectl-like tables, a Club's status page, and -o json|yaml documents.
Pure: every function takes what was read (and the time, where ages are shown) and returns text."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import yaml  # type: ignore[import-untyped]

FORMATS = ("json", "yaml", "wide")
VIDEO_PHASES = ("Pending", "Queued", "Running", "Succeeded", "Failed")
WARNINGS_SHOWN = 10


def dump(document: Any, fmt: str) -> str:
    if fmt == "yaml":
        return str(yaml.safe_dump(document, sort_keys=False, default_flow_style=False)).rstrip("\n")
    return json.dumps(document, indent=2, sort_keys=False)


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Columns padded like kubectl's: three spaces apart, `<none>` for an empty cell."""
    cells = [[str(h) for h in headers]] + [[_cell(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "   ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def _cell(value: Any) -> str:
    if value is None or value == "":
        return "<none>"
    return str(value)


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def age(value: Any, now: datetime) -> str:
    """kubectl's short age: 45s, 12m, 5h, 3d."""
    when = parse_time(value)
    if when is None:
        return ""
    seconds = max(0, int((now - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def condition(status: Mapping[str, Any], type_: str) -> dict[str, Any]:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return {}


def club_of(obj: Mapping[str, Any]) -> str:
    return str(((obj.get("spec") or {}).get("clubRef") or {}).get("name") or "")


def _ns_name(obj: Mapping[str, Any]) -> tuple[str, str]:
    meta = obj.get("metadata") or {}
    return str(meta.get("namespace") or ""), str(meta.get("name") or "")


def backup_row(backup: Mapping[str, Any]) -> dict[str, Any]:
    status, spec = backup.get("status") or {}, backup.get("spec") or {}
    return {
        "name": _ns_name(backup)[1],
        "phase": status.get("phase") or "Pending",
        "trigger": spec.get("trigger"),
        "completionTime": status.get("completionTime"),
        "rows": status.get("rows"),
        "verified": status.get("verified"),
        "reason": status.get("reason"),
    }


def summary(
    club: Mapping[str, Any],
    backups: Sequence[Mapping[str, Any]],
    videojobs: Sequence[Mapping[str, Any]],
    warnings: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The document `status -o json` prints for one Club: its status as the API server has it, and
    what the plugin gathered beside it (its backups, its VideoJobs by phase, recent Warning Events)."""
    namespace, name = _ns_name(club)
    mine = [b for b in backups if _ns_name(b)[0] == namespace and club_of(b) == name]
    mine.sort(key=lambda b: str((b.get("metadata") or {}).get("creationTimestamp") or ""))
    phases = Counter(
        str((v.get("status") or {}).get("phase") or "Pending")
        for v in videojobs
        if _ns_name(v)[0] == namespace and club_of(v) == name
    )
    spec = club.get("spec") or {}
    return {
        "namespace": namespace,
        "name": name,
        "displayName": spec.get("displayName"),
        "suspended": bool(spec.get("suspend")),
        "generation": (club.get("metadata") or {}).get("generation"),
        "status": dict(club.get("status") or {}),
        "backups": [backup_row(b) for b in mine],
        "videoJobs": {p: phases[p] for p in sorted(phases)},
        "warnings": list(warnings)[-WARNINGS_SHOWN:],
    }


def related_warnings(
    events: Iterable[Mapping[str, Any]],
    club: Mapping[str, Any],
    objects: Iterable[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """The Warning Events about the Club or about one of its ClubBackups, ClubRestores or VideoJobs,
    oldest first. `events` are plain dicts: time, namespace, kind, name, reason, message, count."""
    namespace, name = _ns_name(club)
    owned = {
        (str(o.get("kind")), _ns_name(o)[1])
        for o in objects
        if _ns_name(o)[0] == namespace and club_of(o) == name
    }
    owned.add(("Club", name))
    found = [
        dict(e)
        for e in events
        if e.get("namespace") == namespace and (str(e.get("kind")), str(e.get("name"))) in owned
    ]
    found.sort(key=lambda e: str(e.get("time") or ""))
    return found


def clubs_table(
    summaries: Sequence[Mapping[str, Any]], *, all_namespaces: bool, wide: bool, now: datetime
) -> str:
    headers = ["NAME", "PHASE", "READY", "SUSPENDED", "LAST BACKUP", "VIDEOJOBS", "WARNINGS"]
    if wide:
        headers += ["ENDPOINT", "DATABASE", "BUCKET"]
    if all_namespaces:
        headers.insert(0, "NAMESPACE")
    rows = []
    for s in summaries:
        status = s["status"]
        row: list[Any] = [
            s["name"],
            status.get("phase") or "Pending",
            condition(status, "Ready").get("status") or "Unknown",
            "yes" if s["suspended"] else "no",
            age(status.get("lastBackupTime"), now) or None,
            _video_counts(s["videoJobs"]) or None,
            len(s["warnings"]),
        ]
        if wide:
            row += [status.get("apiEndpoint"), status.get("databaseName"), status.get("bucket")]
        if all_namespaces:
            row.insert(0, s["namespace"])
        rows.append(row)
    return table(headers, rows)


def _video_counts(phases: Mapping[str, int]) -> str:
    return ",".join(f"{p}={phases[p]}" for p in VIDEO_PHASES if phases.get(p))


def _when(value: Any, now: datetime) -> str:
    if not value:
        return "never"
    shown = age(value, now)
    return f"{value} ({shown} ago)" if shown else str(value)


def _until(value: Any, now: datetime) -> str:
    when = parse_time(value)
    if when is None:
        return "-"
    if when <= now:
        return f"{value} (due)"
    return f"{value} (in {age(now, when)})"


def status_page(s: Mapping[str, Any], *, wide: bool, now: datetime) -> str:
    """One Club, for a person."""
    status = s["status"]
    ready = condition(status, "Ready")
    lines = [
        f"Club:        {s['namespace']}/{s['name']}"
        + (f"  ({s['displayName']})" if s.get("displayName") else ""),
        f"Phase:       {status.get('phase') or 'Pending'}"
        + (f"  Ready={ready.get('status')} ({ready.get('reason')})" if ready else "")
        + ("  SUSPENDED" if s["suspended"] else ""),
        f"Generation:  {status.get('observedGeneration', '-')} observed of {s.get('generation', '-')}",
        f"Endpoint:    {status.get('apiEndpoint') or '-'}",
        f"Database:    {status.get('databaseName') or '-'} (role {status.get('databaseRole') or '-'})",
        f"Bucket:      {status.get('bucket') or '-'}",
        f"Tenant id:   {status.get('tenantId') or '-'}",
        "",
        "Conditions:",
    ]
    conds = [
        [c.get("type"), c.get("status"), c.get("reason"), age(c.get("lastTransitionTime"), now)]
        + ([c.get("message")] if wide else [])
        for c in status.get("conditions") or []
    ]
    headers = ["TYPE", "STATUS", "REASON", "SINCE"] + (["MESSAGE"] if wide else [])
    lines += _indent(table(headers, conds)) if conds else ["  (none reported yet)"]
    verified = status.get("lastVerifiedRestore") or {}
    lines += [
        "",
        "Backups:",
        f"  Last successful:        {_last_backup(status, now)}",
        f"  Last verified restore:  {_verified_restore(verified, now)}",
        f"  Recoverable back to:    {status.get('firstRecoverabilityPoint') or '-'}",
        f"  ClubBackups:            {_backup_counts(s['backups'])}",
    ]
    if wide and s["backups"]:
        lines += _indent(backups_table(s["backups"], wide=False, now=now), 4)
    rotation = status.get("rotation") or {}
    lines += ["", "Rotation:"]
    rows = [
        [
            cred,
            rec.get("phase"),
            rec.get("kid"),
            rec.get("reason"),
            age(rec.get("issuedTime"), now),
            _until(rec.get("nextRotationTime"), now),
        ]
        for cred, rec in sorted(rotation.items())  # every credential the operator records
        if isinstance(rec, dict)
    ]
    lines += (
        _indent(table(["CREDENTIAL", "PHASE", "ID", "REASON", "ISSUED", "NEXT ROTATION"], rows))
        if rows
        else ["  (nothing rotated yet)"]
    )
    revocation = status.get("revocation") or {}
    if revocation:
        took = (
            f", every old credential refused after {revocation['seconds']} s"
            if "seconds" in revocation
            else ""
        )
        lines += [
            f"  Last revoke:  {revocation.get('phase')} ({revocation.get('request')}), requested "
            f"{age(revocation.get('requestedTime'), now)} ago{took}"
        ]
    lines += ["", f"VideoJobs:   {_video_counts(s['videoJobs']) or 'none'}", "", "Recent warnings:"]
    warnings = [
        [
            age(w.get("time"), now),
            f"{w.get('kind')}/{w.get('name')}",
            w.get("reason"),
            w.get("count"),
            w.get("message"),
        ]
        for w in s["warnings"]
    ]
    lines += (
        _indent(table(["AGE", "OBJECT", "REASON", "COUNT", "MESSAGE"], warnings)) if warnings else ["  none"]
    )
    return "\n".join(lines)


def _last_backup(status: Mapping[str, Any], now: datetime) -> str:
    name = status.get("lastSuccessfulBackup")
    if not name:
        return "none"
    return f"{name} (finished {_when(status.get('lastBackupTime'), now)})"


def _verified_restore(verified: Mapping[str, Any], now: datetime) -> str:
    if not verified:
        return "none"
    return (
        f"{verified.get('backup')} (checked {_when(verified.get('time'), now)}, {verified.get('seconds')}s)"
    )


def _indent(text: str, by: int = 2) -> list[str]:
    return [" " * by + line for line in text.splitlines()]


def _backup_counts(rows: Sequence[Mapping[str, Any]]) -> str:
    counts = Counter(str(r["phase"]) for r in rows)
    return ", ".join(f"{p} {counts[p]}" for p in sorted(counts)) or "none"


def backups_table(rows: Sequence[Mapping[str, Any]], *, wide: bool, now: datetime) -> str:
    headers = ["NAME", "PHASE", "TRIGGER", "FINISHED", "ROWS", "VERIFIED"] + (["REASON"] if wide else [])
    body = [
        [
            r["name"],
            r["phase"],
            r["trigger"],
            age(r["completionTime"], now) or None,
            r["rows"],
            _verified(r["verified"]),
        ]
        + ([r["reason"]] if wide else [])
        for r in rows
    ]
    return table(headers, body)


def _verified(value: Any) -> str | None:
    if value is None:
        return None
    return "yes" if value else "FAILED"


def progress_bar(percent: int, width: int = 30) -> str:
    percent = max(0, min(100, percent))
    filled = width * percent // 100
    return "[" + "#" * filled + "." * (width - filled) + f"] {percent:3d}%"


def video_line(job: Mapping[str, Any]) -> str:
    """One line of `video watch`: phase, progress, attempts and the reason when there is one."""
    status = job.get("status") or {}
    phase = status.get("phase") or "Pending"
    text = f"{phase:<9} {progress_bar(int(status.get('progress') or 0))}"
    if status.get("attempts"):
        text += f" attempt {status['attempts']}"
    if status.get("reason"):
        text += f" {status['reason']}"
    if phase == "Failed" and status.get("message"):
        text += f": {status['message']}"
    return text


def video_outputs(job: Mapping[str, Any], bucket: str | None) -> list[str]:
    """Every object key the VideoJob produced, as s3:// URIs when the club's bucket is known."""
    outputs = (job.get("status") or {}).get("outputs") or {}
    keys: list[str] = []
    if outputs.get("masterPlaylist"):
        keys.append(str(outputs["masterPlaylist"]))
    for group in ("renditions", "thumbnails", "clips"):
        for item in outputs.get(group) or []:
            key = (item.get("playlist") or item.get("key")) if isinstance(item, dict) else item
            if key:
                keys.append(str(key))
    return [f"s3://{bucket}/{k}" if bucket else k for k in keys]
