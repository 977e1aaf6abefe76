"""The Prefect API a command-line run talks to: the one configured (`PREFECT_API_URL`, a server or
Prefect Cloud), else a temporary server of edco's own.

Prefect starts a temporary server by itself when no API is configured, but as a plain child of the
run: a terminal's Ctrl-C reaches it too (the run then hangs on a dead API for minutes), and a run
ended by SIGTERM, SIGKILL or the OOM killer leaves it behind, listening, ~200 MB. edco's is
Prefect's own server (`SubprocessASGIServer`, the same command and settings), started in a session
of its own, so a terminal's signals reach only edco, with a parent-death signal, so it ends with
the process that started it however that ends, and stopped when the run is over. Should it end
first (killed, out of memory), a watchdog stops the run at once with `ApiLost`, instead of Prefect's
client retrying the dead server for minutes.

A first start migrates a new database: 18 s here on an idle 2-core VM, against Prefect's default of
20 s to wait, so a loaded machine failed a run before its first stage with Prefect's traceback.
edco waits `STARTUP_S` (or the user's `PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS`, if longer)
and says in one line what to do should that not suffice.
"""

from __future__ import annotations

import ctypes
import functools
import inspect
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS, temporary_settings
from prefect.utilities.asyncutils import run_coro_as_sync

from edco.errors import EdcoError

PR_SET_PDEATHSIG = 1
LOST = signal.SIGUSR1  # what the watchdog sends the main thread: a real signal wakes it from any wait
GRACE_S = 3.0  # what the main thread gets to unwind before the watchdog ends the process itself
STARTUP_S = 120  # what a first start (a new database to migrate) gets on a loaded machine


class ApiLost(BaseException):
    """The temporary Prefect server ended under the run. Raised in the main thread, a BaseException
    as a stop signal is, so no stage takes it for a transient failure to retry."""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class _OwnServer(SubprocessASGIServer):
    """Prefect's temporary server, its process started in a new session with a parent-death signal."""

    def _run_uvicorn_command(self) -> subprocess.Popen[Any]:
        popen = subprocess.Popen
        subprocess.Popen = functools.partial(popen, start_new_session=True, preexec_fn=_die_with_parent)
        try:
            return super()._run_uvicorn_command()
        finally:
            subprocess.Popen = popen


class _Watchdog(threading.Thread):
    """Watches the server's process. Should it end, the main thread gets `ApiLost`, which unwinds
    the stage (its ranks stopped, its temporary files removed) at once; but Prefect's engine then
    reports the crash to the dead server, retrying for minutes, so after `GRACE_S` the watchdog
    hands the message to `on_lost`, which ends the process."""

    def __init__(self, process: subprocess.Popen[Any], on_lost: Callable[[str], None]) -> None:
        super().__init__(name="edco-prefect-watchdog", daemon=True)
        self.process, self.on_lost = process, on_lost
        self.done = threading.Event()
        self.lost = ""

    def run(self) -> None:
        while not self.done.wait(0.5):
            code = self.process.poll()
            if code is not None:
                how = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"
                self.lost = f"the Prefect API server this run started (pid {self.process.pid}) ended under it ({how})"
                signal.pthread_kill(threading.main_thread().ident, LOST)
                if not self.done.wait(GRACE_S):
                    self.on_lost(self.lost)
                return

    def raise_lost(self, signum: int, frame: object) -> None:
        raise ApiLost(self.lost)


@contextmanager
def prefect_api(on_lost: Callable[[str], None]) -> Iterator[None]:
    """The configured Prefect API, or edco's own temporary server for the length of the block;
    `on_lost(message)` ends the process should that server die under the block (`_Watchdog`).

    A configured API is not watched: it is the user's, and Prefect's client retries its outages."""
    if PREFECT_API_URL.value():
        yield
        return
    server = _start_server()
    watchdog = _Watchdog(server.server_process, on_lost)
    previous = signal.signal(LOST, watchdog.raise_lost)
    watchdog.start()
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield
    finally:
        watchdog.done.set()
        watchdog.join()
        signal.signal(LOST, previous)
        if not watchdog.lost:  # nothing to send to a dead server
            run_coro_as_sync(_drain())  # else the log and event workers retry a stopped server for a minute at exit
        server.stop()


def _start_server() -> _OwnServer:
    """edco's temporary server, answering; an `EdcoError` if it does not within the startup time."""
    server = _OwnServer()  # Prefect's own code asking for its temporary server (`SubprocessASGIServer()`) gets this one
    timeout = max(STARTUP_S, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS.value())
    try:
        server.start(timeout=timeout)
    except RuntimeError as exc:  # Prefect's "Timed out while attempting to connect ...", with the server's output
        server.stop()
        raise EdcoError(
            f"the temporary Prefect API server did not answer within {timeout} s: {exc}",
            hint="set PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS higher, or PREFECT_API_URL to a running server",
        ) from None
    return server


async def _drain() -> None:
    """Send what Prefect's log and event workers still hold (what `prefect_test_harness` does)."""
    for drain in (lambda: APILogWorker.instance().drain(), EventsWorker.drain_all):
        try:
            result = drain()
        except RuntimeError:  # a worker that never started
            continue
        if inspect.isawaitable(result):
            await result
