"""Whether a CronJob schedule is one the API server accepts, and whether it ever runs. Pure, no I/O.

The API server validates a CronJob's schedule with the standard parser of robfig/cron v3 (five
fields, or a descriptor such as @daily) and refuses any "TZ" in it (the timeZone field says the time
zone). `schedule_problem` makes the same checks, with the same words, so that spec.backup.schedule
is refused on the Club (InvalidSpec) before a CronJob is built from it; the Club CRD's own rule
refuses most such schedules earlier, but a rule cannot see that a range runs backwards (5-2).

It also refuses a schedule the API server accepts but that never fires, such as day 31 of
February, April, June, September and November only ("0 3 31 2,4 *"): the CronJob controller would
never run it, and nothing would say so.

`longest_interval` says how long a schedule can leave between two runs (in UTC, the time zone the
operator gives every backup CronJob): what a backup's age is compared with before it is too old.
"""

from __future__ import annotations

import datetime
import functools
import itertools
import re
from dataclasses import dataclass

__all__ = ["longest_interval", "schedule_problem"]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_DESCRIPTORS = frozenset({"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"})
_GO_INT = re.compile(r"[+-]?[0-9]+")
_GO_DURATION = re.compile(r"[+-]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+|[+-]?0")
_LONGEST_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)  # February of a leap year
# robfig/cron's descriptors as the five fields they stand for.
_DESCRIBED = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
_GO_PART = re.compile(r"([0-9]*\.?[0-9]*)(ns|us|µs|μs|ms|s|m|h)")
# Two of the Gregorian calendar's 28-year cycles of weekdays and leap years (true from 1901 to
# 2099): every gap between matching days, the one across a cycle's end included.
_SCAN_FROM = datetime.date(2001, 1, 1)
_SCAN_DAYS = (datetime.date(2057, 1, 1) - _SCAN_FROM).days
_DAY_MINUTES = 24 * 60


@dataclass(frozen=True)
class _Bounds:
    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()  # names[i] stands for low + i


_FIELDS = (
    _Bounds("minute", 0, 59),
    _Bounds("hour", 0, 23),
    _Bounds("day of month", 1, 31),
    _Bounds("month", 1, 12, _MONTHS),
    _Bounds("day of week", 0, 6, _DAYS),
)


class _Invalid(ValueError):
    pass


@dataclass(frozen=True)
class _Field:
    values: frozenset[int]
    star: bool  # "*" or "?" (step 1): robfig/cron then matches day of month AND day of week


def schedule_problem(schedule: str) -> str | None:
    """Why the API server would refuse `schedule` for a CronJob, or why it would never run; None
    when it is fine."""
    problems = []
    try:
        _parse(schedule)
    except _Invalid as exc:
        problems.append(str(exc))
    if "TZ" in schedule:
        problems.append("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")
    return "; ".join(problems) or None


@functools.lru_cache(maxsize=1024)
def longest_interval(schedule: str) -> int | None:
    """The longest time, in seconds, `schedule` leaves between two consecutive runs; None for a
    schedule `schedule_problem` refuses. Weekdays only ("0 3 * * 1-5") is three days (Friday to
    Monday), monthly on the 1st 31 days, "@every 90m" 5400 s (robfig/cron: at least a second)."""
    if schedule_problem(schedule) is not None:
        return None
    if schedule.startswith("@every "):
        return max(1, int(_go_seconds(schedule.removeprefix("@every "))))
    fields = _parse(_DESCRIBED.get(schedule, schedule))
    if fields is None:
        return None
    minute, hour, dom, month, dow = fields
    times = sorted(h * 60 + m for h in hour.values for m in minute.values)
    longest = max((b - a for a, b in itertools.pairwise(times)), default=0)
    previous: int | None = None
    for offset in range(_SCAN_DAYS):
        if not _day_matches(_SCAN_FROM + datetime.timedelta(days=offset), dom, month, dow):
            continue
        if previous is not None:
            longest = max(longest, (offset - previous) * _DAY_MINUTES - times[-1] + times[0])
        previous = offset
    return longest * 60


def _day_matches(day: datetime.date, dom: _Field, month: _Field, dow: _Field) -> bool:
    """robfig/cron's test: the month, and the day of month AND of week when either is a wildcard,
    OR when neither is."""
    if day.month not in month.values:
        return False
    in_month, in_week = day.day in dom.values, (day.weekday() + 1) % 7 in dow.values
    return in_month and in_week if dom.star or dow.star else in_month or in_week


def _go_seconds(duration: str) -> float:
    """A Go duration ("1h30m", "90s", "-2m", "0") in seconds."""
    sign = -1.0 if duration.startswith("-") else 1.0
    parts = _GO_PART.findall(duration.lstrip("+-"))
    return sign * sum(float(number or 0) * _GO_UNITS[unit] for number, unit in parts)


def _parse(schedule: str) -> tuple[_Field, ...] | None:
    """The five fields of `schedule`, None for a descriptor (checked, not parsed)."""
    if not schedule:
        raise _Invalid("empty spec string")
    if schedule.startswith(("TZ=", "CRON_TZ=")):
        # robfig/cron reads a time zone prefix; the API server refuses any TZ anyway (above).
        space = schedule.find(" ")
        if space < 0:
            raise _Invalid(f"missing a space after the time zone: {schedule}")
        schedule = schedule[space:].strip()
    if schedule.startswith("@"):
        _descriptor(schedule)
        return None
    fields = schedule.split()
    if len(fields) != len(_FIELDS):
        raise _Invalid(f"expected exactly {len(_FIELDS)} fields, found {len(fields)}: [{' '.join(fields)}]")
    parsed = tuple(_field(text, bounds) for text, bounds in zip(fields, _FIELDS, strict=True))
    _minute, _hour, dom, month, dow = parsed
    if not dom.star and not dow.star:
        return parsed  # either matching fires it: a day of the week comes every week
    if dom.star:
        return parsed
    if not any(day <= _LONGEST_MONTH[m - 1] for m in month.values for day in dom.values):
        raise _Invalid(
            "never runs: no month in the schedule has any of its days of the month "
            f"({_listed(dom.values)} in {_listed(month.values)})"
        )
    return parsed


def _descriptor(schedule: str) -> None:
    if schedule in _DESCRIPTORS:
        return
    every = "@every "
    if schedule.startswith(every):
        duration = schedule[len(every) :]
        if not _GO_DURATION.fullmatch(duration):
            raise _Invalid(f"failed to parse duration {schedule}: time: invalid duration {duration!r}")
        return
    raise _Invalid(f"unrecognized descriptor: {schedule}")


def _field(text: str, bounds: _Bounds) -> _Field:
    values: set[int] = set()
    star = False
    for expr in (part for part in text.split(",") if part):
        found, expr_star = _range(expr, bounds)
        values |= found
        star = star or expr_star
    return _Field(frozenset(values), star)


def _range(expr: str, bounds: _Bounds) -> tuple[set[int], bool]:
    range_and_step = expr.split("/")
    low_and_high = range_and_step[0].split("-")
    start, end, star = _start_end(low_and_high, bounds, expr)
    if len(range_and_step) == 1:
        step = 1
    elif len(range_and_step) == 2:
        step = _int(range_and_step[1])
        if len(low_and_high) == 1:
            end = bounds.high  # "N/step" means "N-max/step"
        if step > 1:
            star = False
    else:
        raise _Invalid(f"too many slashes: {expr}")
    if start < bounds.low:
        raise _Invalid(f"beginning of range ({start}) below minimum ({bounds.low}): {expr}")
    if end > bounds.high:
        raise _Invalid(f"end of range ({end}) above maximum ({bounds.high}): {expr}")
    if start > end:
        raise _Invalid(f"beginning of range ({start}) beyond end of range ({end}): {expr}")
    if step == 0:
        raise _Invalid(f"step of range should be a positive number: {expr}")
    return set(range(start, end + 1, step)), star


def _start_end(low_and_high: list[str], bounds: _Bounds, expr: str) -> tuple[int, int, bool]:
    """The range's first and last value, and whether it is a wildcard."""
    if low_and_high[0] in {"*", "?"}:
        return bounds.low, bounds.high, True
    start = _int_or_name(low_and_high[0], bounds)
    if len(low_and_high) == 1:
        return start, start, False
    if len(low_and_high) == 2:
        return start, _int_or_name(low_and_high[1], bounds), False
    raise _Invalid(f"too many hyphens: {expr}")


def _int_or_name(text: str, bounds: _Bounds) -> int:
    lowered = text.lower()
    if lowered in bounds.names:
        return bounds.low + bounds.names.index(lowered)
    return _int(text)


def _int(text: str) -> int:
    if not _GO_INT.fullmatch(text):
        raise _Invalid(f'failed to parse int from {text}: strconv.Atoi: parsing "{text}": invalid syntax')
    number = int(text)
    if number < 0:
        raise _Invalid(f"negative number ({number}) not allowed: {text}")
    return number


def _listed(values: frozenset[int]) -> str:
    return ",".join(str(value) for value in sorted(values))
