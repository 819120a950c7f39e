"""The job functions a worker runs: those the runtime registers here, and nothing else.

RQ imports whatever dotted name a job carries, its function and its success, failure and stopped
callbacks alike, and calls it in the worker, which holds the club's database DSN and S3 keys. So
anyone able to write a job into the club's Redis could run any importable function there
(`os.system` with a command as its argument). `RegisteredJob` imports only registered names, and the
worker (ClubWorker.execute_job) fails any other job at once, before it forks, as a permanent error
naming the function: no retry, no callback. Webhooks a job names are dropped: the runtime's jobs
have none, and a forged one would make the worker post where it was told."""

from __future__ import annotations

from typing import Any

from rq.exceptions import DeserializationError
from rq.job import Job

from club_runtime import contract

JOB_FUNCTIONS = frozenset({contract.PROCESS_VIDEO})
"""What a job may run."""
CALLBACKS = frozenset({contract.VIDEO_STOPPED})
"""What a job may name as its success, failure or stopped callback."""


class UnregisteredFunctionError(RuntimeError):
    """A job names a function (or callback) the runtime does not register."""


def refusal(job: Job) -> str | None:
    """Why the worker must not run `job`, or None when everything it names is registered."""
    try:
        job.func_name  # noqa: B018 - reads (deserializes) the job's data, here, not in RQ's loop
    except DeserializationError:
        return f"job {job.id} carries data this worker cannot read as JSON; it was not run"
    if job.func_name not in JOB_FUNCTIONS:
        return f"job function {job.func_name!r} is not registered with this worker; it was not run"
    if job.instance is not None:
        return f"job {job.id} names an instance to call {job.func_name!r} on; registered jobs are functions"
    for kind, name in _callbacks(job):
        if name and name not in CALLBACKS:
            return f"{kind} callback {name!r} is not registered with this worker; the job was not run"
    return None


def _callbacks(job: Job) -> tuple[tuple[str, str | None], ...]:
    return (
        ("success", job._success_callback_name),
        ("failure", job._failure_callback_name),
        ("stopped", job._stopped_callback_name),
    )


class RegisteredJob(Job):
    """RQ's Job, importing registered names only (every path to a job's code goes through these)."""

    @property
    def func(self) -> Any:
        if self.func_name not in JOB_FUNCTIONS or self.instance is not None:
            raise UnregisteredFunctionError(refusal(self) or f"job {self.id} names no registered function")
        return super().func

    @property
    def success_callback(self) -> Any:
        self._check_callback("success", self._success_callback_name)
        return super().success_callback

    @property
    def failure_callback(self) -> Any:
        self._check_callback("failure", self._failure_callback_name)
        return super().failure_callback

    @property
    def stopped_callback(self) -> Any:
        self._check_callback("stopped", self._stopped_callback_name)
        return super().stopped_callback

    def _check_callback(self, kind: str, name: str | None) -> None:
        if name and name not in CALLBACKS:
            raise UnregisteredFunctionError(f"{kind} callback {name!r} is not registered with this worker")

    def restore(self, raw_data: dict[Any, Any]) -> Any:
        restored = super().restore(raw_data)
        self.webhooks = []
        return restored
