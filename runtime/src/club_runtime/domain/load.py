"""Training load metrics and the alerts drawn from them.

- Daily load: the sum of session loads that day, a session load being sRPE = minutes x RPE (training
  attendance and matches alike). Days without sessions count as zero.
- ACWR (acute:chronic workload ratio, coupled rolling averages): mean daily load over the last 7 days
  divided by mean daily load over the last 28 days (both windows end on the day asked about).
- Monotony (Foster): mean daily load of the last 7 days / their population standard deviation.
- Strain: the 7-day load sum x monotony.
- Readiness 0-100: each wellness measure of the day becomes a z-score against that player's previous
  28 days (oriented so that positive is better: more sleep, mood and HRV; less fatigue, soreness,
  stress and resting heart rate); readiness = 50 + 25 x mean z, clamped to 0..100 and rounded. A measure
  needs at least 3 baseline values with some spread to count.
- Alerts: ACWR below 0.8 or above 1.5; readiness below 40 on three days in a row.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import StrEnum

ACUTE_DAYS = 7
CHRONIC_DAYS = 28
BASELINE_DAYS = 28
ACWR_LOW = 0.8
ACWR_HIGH = 1.5
READINESS_LOW = 40
READINESS_LOW_STREAK = 3
MIN_BASELINE = 3

# Wellness measure -> +1 when a higher value means better readiness, -1 when worse.
WELLNESS_ORIENTATION: dict[str, int] = {
    "sleep_quality": 1,
    "fatigue": -1,
    "soreness": -1,
    "stress": -1,
    "mood": 1,
    "hrv_ms": 1,
    "resting_hr": -1,
}


class AlertKind(StrEnum):
    ACWR_LOW = "acwr_low"
    ACWR_HIGH = "acwr_high"
    READINESS_LOW_STREAK = "readiness_low_streak"


@dataclass(frozen=True)
class Alert:
    kind: AlertKind
    message: str


@dataclass(frozen=True)
class LoadReport:
    on: date
    acute_load: float
    chronic_load: float
    acwr: float | None
    monotony: float | None
    strain: float | None
    readiness: int | None
    alerts: list[Alert] = field(default_factory=list)


def session_load(minutes: float, rpe: float) -> float:
    return minutes * rpe


def daily_loads(sessions: Iterable[tuple[date, float]], *, end: date, days: int) -> list[float]:
    """Loads of the `days` days ending on `end` (oldest first), summed per day, zero where none."""
    start = end - timedelta(days=days - 1)
    loads = [0.0] * days
    for day, load in sessions:
        if start <= day <= end:
            loads[(day - start).days] += load
    return loads


def acwr(loads: Sequence[float]) -> float | None:
    """ACWR from the last 28 daily loads (oldest first); None when the chronic load is zero."""
    chronic = sum(loads[-CHRONIC_DAYS:]) / CHRONIC_DAYS
    if chronic == 0:
        return None
    return (sum(loads[-ACUTE_DAYS:]) / ACUTE_DAYS) / chronic


def monotony(loads: Sequence[float]) -> float | None:
    week = loads[-ACUTE_DAYS:]
    spread = statistics.pstdev(week)
    if spread == 0:
        return None
    return statistics.fmean(week) / spread


def strain(loads: Sequence[float]) -> float | None:
    value = monotony(loads)
    return None if value is None else sum(loads[-ACUTE_DAYS:]) * value


def readiness(
    today: Mapping[str, float | None], baseline: Sequence[Mapping[str, float | None]]
) -> int | None:
    """Readiness of one day against the previous days' entries; None when no measure can be scored."""
    scores: list[float] = []
    for measure, sign in WELLNESS_ORIENTATION.items():
        value = today.get(measure)
        history = [v for entry in baseline if (v := entry.get(measure)) is not None]
        if value is None or len(history) < MIN_BASELINE:
            continue
        spread = statistics.pstdev(history)
        if spread == 0:
            continue
        scores.append(sign * (value - statistics.fmean(history)) / spread)
    if not scores:
        return None
    return round(min(100.0, max(0.0, 50 + 25 * statistics.fmean(scores))))


def readiness_on(day: date, wellness: Mapping[date, Mapping[str, float | None]]) -> int | None:
    today = wellness.get(day)
    if today is None:
        return None
    baseline = [entry for d, entry in wellness.items() if day - timedelta(days=BASELINE_DAYS) <= d < day]
    return readiness(today, baseline)


def alerts(acwr_value: float | None, recent_readiness: Sequence[int | None]) -> list[Alert]:
    """Alerts for one day, given its ACWR and the readiness of the last days (oldest first)."""
    found: list[Alert] = []
    if acwr_value is not None and acwr_value < ACWR_LOW:
        found.append(Alert(AlertKind.ACWR_LOW, f"ACWR {acwr_value:.2f} is below {ACWR_LOW}: under-loaded"))
    if acwr_value is not None and acwr_value > ACWR_HIGH:
        found.append(Alert(AlertKind.ACWR_HIGH, f"ACWR {acwr_value:.2f} is above {ACWR_HIGH}: injury risk"))
    streak = recent_readiness[-READINESS_LOW_STREAK:]
    if len(streak) == READINESS_LOW_STREAK and all(r is not None and r < READINESS_LOW for r in streak):
        found.append(
            Alert(
                AlertKind.READINESS_LOW_STREAK,
                f"readiness below {READINESS_LOW} on {READINESS_LOW_STREAK} days in a row",
            )
        )
    return found


def report(
    on: date,
    sessions: Iterable[tuple[date, float]],
    wellness: Mapping[date, Mapping[str, float | None]],
) -> LoadReport:
    """Every metric and alert of one player on one day, from their session loads and wellness entries."""
    loads = daily_loads(sessions, end=on, days=CHRONIC_DAYS)
    ratio = acwr(loads)
    recent = [readiness_on(on - timedelta(days=n), wellness) for n in reversed(range(READINESS_LOW_STREAK))]
    return LoadReport(
        on=on,
        acute_load=sum(loads[-ACUTE_DAYS:]) / ACUTE_DAYS,
        chronic_load=sum(loads) / CHRONIC_DAYS,
        acwr=ratio,
        monotony=monotony(loads),
        strain=strain(loads),
        readiness=recent[-1],
        alerts=alerts(ratio, recent),
    )
