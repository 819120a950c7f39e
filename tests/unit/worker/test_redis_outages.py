"""A Redis outage is waited out by the worker, never a reason to exit (which would restart the
container and kill the job's work horse with it): each step of RQ's loop that talks to Redis outside
its dequeue is made to fail here as an unreachable Redis fails it, and the worker goes on. Any other
error still propagates. No I/O: RQ's steps are replaced by ones that raise."""

from __future__ import annotations

from typing import Any

import pytest
from redis import exceptions as redis_errors
from rq import Worker

from club_runtime import contract
from club_runtime.worker.club_worker import ClubWorker
from club_runtime.worker.lease import Lease
from club_runtime.worker.progress import Progress

OUTAGES = [
    redis_errors.ConnectionError("Error 111 connecting to 10.0.0.1:6379. Connection refused."),
    redis_errors.TimeoutError("Timeout reading from socket"),
    # Redis restarted empty, before the operator made the club's user again.
    redis_errors.AuthenticationError("WRONGPASS invalid username-password pair"),
]


def _raises(error: BaseException) -> Any:
    def step(*args: Any, **kwargs: Any) -> None:
        raise error

    return step


class _Job:
    """What ClubWorker.execute_job reads of a video job before RQ takes over."""

    id = "video-1"
    func_name = contract.PROCESS_VIDEO
    instance = None
    _success_callback_name = _failure_callback_name = _stopped_callback_name = None
    timeout = None
    retries_left = 1
    retry_intervals = (1,)

    def save(self, include_meta: bool = True) -> None:
        pass

    def get_status(self, refresh: bool = True) -> str:
        raise redis_errors.ConnectionError("still down")


# (the step ClubWorker overrides, the arguments it takes)
STEPS = [
    ("maintain_heartbeats", (_Job(), "execution")),
    ("heartbeat", ()),
    ("run_maintenance_tasks", ()),
    ("check_for_suspension", (False,)),
    ("teardown", ()),
]


class _Queue:
    name = "club:x:video"


def _worker() -> ClubWorker:
    return ClubWorker.__new__(ClubWorker)


@pytest.mark.parametrize("error", OUTAGES, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize(("step", "args"), STEPS, ids=[s for s, _ in STEPS])
def test_a_step_that_meets_an_unreachable_redis_logs_and_goes_on(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    step: str,
    args: tuple[Any, ...],
    error: BaseException,
) -> None:
    monkeypatch.setattr(Worker, step, _raises(error))
    getattr(_worker(), step)(*args)
    assert "Redis unreachable" in caplog.text


@pytest.mark.parametrize(("step", "args"), STEPS, ids=[s for s, _ in STEPS])
def test_any_other_error_in_a_step_still_propagates(
    monkeypatch: pytest.MonkeyPatch, step: str, args: tuple[Any, ...]
) -> None:
    monkeypatch.setattr(Worker, step, _raises(ValueError("a bug")))
    with pytest.raises(ValueError, match="a bug"):
        getattr(_worker(), step)(*args)


def test_a_job_whose_end_cannot_be_recorded_is_left_to_the_abandoned_job_cleanup(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(Worker, "execute_job", _raises(OUTAGES[0]))
    worker = _worker()
    worker.video_timeout_sec, worker.retry_intervals = 60, (1,)
    worker.execute_job(_Job(), _Queue())  # type: ignore[arg-type]
    assert "it stays started" in caplog.text


def test_registering_at_start_waits_for_redis(monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[int] = []

    def register(self: Worker) -> None:
        attempts.append(1)
        if len(attempts) < 3:
            raise OUTAGES[len(attempts) - 1]

    class Answers:
        def ping(self) -> bool:
            return True

    monkeypatch.setattr(Worker, "register_birth", register)
    worker = _worker()
    worker.connection = Answers()  # type: ignore[assignment]
    worker.register_birth()
    assert len(attempts) == 3


class _UnreachableJob:
    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}

    def save_meta(self) -> None:
        raise OUTAGES[0]


class _Rows:
    def __init__(self) -> None:
        self.written: list[tuple[Any, ...]] = []

    def execute(self, query: Any, params: tuple[Any, ...]) -> None:
        self.written.append(params)


def test_progress_goes_on_while_redis_is_unreachable(caplog: pytest.LogCaptureFixture) -> None:
    rows = _Rows()
    progress = Progress(_UnreachableJob(), rows, "v1")  # type: ignore[arg-type]
    progress.update(10, "transcoding")
    progress.update(20, "transcoding")
    assert rows.written == [(10, "v1"), (20, "v1")]  # the database still gets it
    assert caplog.text.count("progress not saved") == 1  # once per outage, not once per update


class _Lock:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def acquire(self, **options: Any) -> bool:
        return True

    def release(self) -> None:
        raise self.error


class _Locks:
    def __init__(self, error: BaseException) -> None:
        self.error = error

    def lock(self, name: str, **options: Any) -> _Lock:
        return _Lock(self.error)


def test_a_lease_released_while_redis_is_unreachable_is_left_to_expire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Lease(_Locks(OUTAGES[0]), "video:v1", ttl_sec=60):  # type: ignore[arg-type]
        pass
    assert "it expires on its own" in caplog.text
    with pytest.raises(ValueError, match="a bug"), Lease(_Locks(ValueError("a bug")), "video:v1", ttl_sec=60):  # type: ignore[arg-type]
        pass


def test_waiting_for_a_job_retries_while_redis_is_unreachable(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    answers: list[BaseException | str] = [*OUTAGES, "a job"]

    def dequeue(self: Worker, timeout: int | None, max_idle_time: int | None = None) -> str:
        answer = answers.pop(0)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    monkeypatch.setattr(Worker, "dequeue_job_and_maintain_ttl", dequeue)
    worker = _worker()
    worker.redis_retry_sec = 0.0
    assert worker.dequeue_job_and_maintain_ttl(5) == "a job"  # type: ignore[comparison-overlap]
    assert caplog.text.count("waiting for a job: Redis unreachable") == len(OUTAGES)


def test_a_job_whose_policy_cannot_be_saved_is_left_to_the_abandoned_job_cleanup(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Unsaved(_Job):
        retries_left = None

        def save(self, include_meta: bool = True) -> None:
            raise OUTAGES[0]

    worker = _worker()
    worker.video_timeout_sec, worker.retry_intervals = 60, (1,)
    worker.execute_job(Unsaved(), _Queue())  # type: ignore[arg-type]
    assert "it stays started" in caplog.text
