"""A rollout settles from the Deployments the watched copy holds: only once every awaited Deployment
has rolled out the generation awaited, and then as the same outcome with WorkloadsReady True."""

from __future__ import annotations

from club_operator import rollouts
from club_operator.conditions import Reason, Type
from club_operator.outcome import Outcome
from club_operator.rollouts import Rollout


def _waiting() -> Outcome:
    out = Outcome(fields={"bucket": "b"}, rolling_out={"api": 2, "worker": 1})
    out.condition(Type.DATABASE_READY, True, Reason.PROVISIONED, "ok")
    out.condition(Type.WORKLOADS_READY, False, Reason.ROLLING_OUT, "api: 0/1 pods available")
    return out


def test_settles_once_every_awaited_deployment_rolled_out_its_generation() -> None:
    previous = _waiting()
    settled = rollouts.settle(previous, [Rollout("api", 2, None), Rollout("worker", 1, None)])
    assert settled.rolling_out == {}
    assert not settled.waits_only_for_rollout
    workloads = [c for c in settled.conditions if c.type == Type.WORKLOADS_READY]
    assert [(c.status, c.reason) for c in workloads] == [(True, Reason.AVAILABLE)]
    assert settled.fields == {"bucket": "b"}
    assert previous.rolling_out  # the waiting outcome is left as it was


def test_an_older_generation_or_a_pod_still_coming_does_not_settle() -> None:
    previous = _waiting()
    assert rollouts.settle(previous, [Rollout("api", 1, None), Rollout("worker", 1, None)]) is previous
    assert rollouts.settle(
        previous, [Rollout("api", 2, "0/1 pods available"), Rollout("worker", 1, None)]
    ) is (previous)
    assert rollouts.settle(previous, [Rollout("api", 2, None)]) is previous  # worker not seen


def test_what_a_deployment_waits_for() -> None:
    meta = {"name": "api", "generation": 3}
    assert rollouts.waiting_for(None) == "not created"
    assert rollouts.waiting_for({"metadata": meta, "status": {"observedGeneration": 2}}) == (
        "rollout not observed yet"
    )
    live = {
        "metadata": meta,
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 3, "updatedReplicas": 2},
    }
    assert rollouts.waiting_for(live) == "0/2 pods available"
    live["status"] |= {"availableReplicas": 2}
    assert rollouts.waiting_for(live) is None
    assert rollouts.rollout_of(live) == Rollout("api", 3, None)
