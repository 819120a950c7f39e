"""How the resync gate (resync_gate.py) stands, for Prometheus: resyncs waiting for a slot, event
reconciles in flight, and resyncs started. With the reconcile duration, they tell whether the resync
slots keep up with the Clubs (waiting near zero between bursts) or fall behind."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from club_operator.resync_gate import Gate

RESYNCS_WAITING = Gauge("club_operator_resyncs_waiting", "Resyncs waiting for a slot of the resync gate")
EVENT_RECONCILES = Gauge(
    "club_operator_event_reconciles_in_flight",
    "Reconciles of Clubs created, changed or resumed now running (resyncs wait while there are any)",
)
RESYNCS_STARTED = Counter("club_operator_resyncs_started", "Resyncs that got a slot of the resync gate")


def follow(gate: Gate) -> None:
    """Report `gate`'s queue and the event reconciles it counts, read at each scrape."""
    RESYNCS_WAITING.set_function(lambda: gate.waiting)
    EVENT_RECONCILES.set_function(lambda: gate.events)
