"""The worker's registry of job functions: what a job may name (no Redis: jobs built in memory)."""

from __future__ import annotations

import pytest
import redis
from rq import Callback
from rq.serializers import JSONSerializer

from club_runtime import contract
from club_runtime.worker import registry

# A client object only; nothing here sends a command.
CONN = redis.Redis(host="127.0.0.1", port=1)


def job(func: str, **options: object) -> registry.RegisteredJob:
    return registry.RegisteredJob.create(
        func, kwargs={"video_id": "v"}, connection=CONN, serializer=JSONSerializer, **options
    )


def test_the_video_job_with_its_stopped_callback_is_registered() -> None:
    made = job(contract.PROCESS_VIDEO, on_stopped=Callback(contract.VIDEO_STOPPED))
    assert registry.refusal(made) is None
    assert made.func.__name__ == "process_video"
    assert made.stopped_callback is not None


@pytest.mark.parametrize(
    "func", ["os.system", "subprocess.run", "builtins.eval", "club_runtime.worker.cli.main"]
)
def test_any_other_function_is_refused_by_name_and_never_imported(func: str) -> None:
    made = job(func)
    assert registry.refusal(made) == (
        f"job function {func!r} is not registered with this worker; it was not run"
    )
    with pytest.raises(registry.UnregisteredFunctionError, match="not registered"):
        _ = made.func


@pytest.mark.parametrize("kind", ["on_success", "on_failure", "on_stopped"])
def test_a_registered_job_with_an_unregistered_callback_is_refused(kind: str) -> None:
    made = job(contract.PROCESS_VIDEO, **{kind: Callback("os.system")})
    problem = registry.refusal(made)
    assert problem is not None
    assert "'os.system' is not registered" in problem
    callback = {"on_success": "success", "on_failure": "failure", "on_stopped": "stopped"}[kind]
    with pytest.raises(registry.UnregisteredFunctionError):
        getattr(made, f"{callback}_callback")


def test_a_job_whose_data_is_not_json_is_refused_not_crashing_the_worker() -> None:
    made = job(contract.PROCESS_VIDEO)
    made.data = b"\x80\x04 a pickle, or anything else"
    assert (
        registry.refusal(made)
        == f"job {made.id} carries data this worker cannot read as JSON; it was not run"
    )
