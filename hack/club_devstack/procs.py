"""Child processes of the local stack: each with its log file, its own process group, and a
parent-death signal so that nothing outlives the stack, even when the test run is killed."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path

_PR_SET_PDEATHSIG = 1


class StartupError(RuntimeError):
    """A service did not become ready; the message names its log file."""


def _die_with_parent() -> None:
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def wait_until(check: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `check` until it returns True; a check that raises counts as not ready yet."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as exc:  # any failure means "not ready yet"
            last_error = exc
        time.sleep(interval)
    detail = f" (last error: {last_error})" if last_error else ""
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s{detail}")


class Process:
    """One long-running child process whose output goes to `log`."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log: Path,
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
        user: str | None = None,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("ab") as out:
            self._popen = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env={**os.environ, **(env or {})},
                cwd=cwd,
                user=user,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only async-signal-safe calls
            )

    @property
    def pid(self) -> int:
        return self._popen.pid

    def alive(self) -> bool:
        return self._popen.poll() is None

    def wait_ready(self, check: Callable[[], bool], *, timeout: float = 60) -> None:
        """Wait for `check`, failing early (with the log's tail) if the process exits."""

        def ready() -> bool:
            if not self.alive():
                raise StartupError(self._exit_message())
            return check()

        try:
            wait_until(ready, timeout=timeout, what=self.name)
        except StartupError:
            raise
        except TimeoutError as exc:
            if not self.alive():
                raise StartupError(self._exit_message()) from exc
            raise StartupError(f"{exc}; see {self.log}\n{self._log_tail()}") from exc

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM the process group, then SIGKILL whatever is left after `timeout` seconds."""
        if self._popen.poll() is not None:
            self._kill_group(signal.SIGKILL)
            return
        self._kill_group(signal.SIGTERM)
        try:
            self._popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self._kill_group(signal.SIGKILL)
            self._popen.wait(5)
        self._kill_group(signal.SIGKILL)

    def _kill_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._popen.pid, sig)

    def _exit_message(self) -> str:
        return f"{self.name} exited with code {self._popen.returncode}; see {self.log}\n{self._log_tail()}"

    def _log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(text[-lines:])
