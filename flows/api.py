"""The Prefect API a command-line run talks to: the one configured (`PREFECT_API_URL`, a server or
Prefect Cloud), else a temporary server of edco's own.

Prefect starts a temporary server by itself when no API is configured, but as a plain child of the
run: a terminal's Ctrl-C reaches it too (the run then hangs on a dead API for minutes), and a run
ended by SIGTERM, SIGKILL or the OOM killer leaves it behind, listening, ~200 MB. edco's is
Prefect's own server (`SubprocessASGIServer`, the same command and settings), started in a session
of its own, so a terminal's signals reach only edco, with a parent-death signal, so it ends with
the process that started it however that ends, and stopped when the run is over.
"""

from __future__ import annotations

import ctypes
import functools
import inspect
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from prefect.events.worker import EventsWorker
from prefect.logging.handlers import APILogWorker
from prefect.server.api.server import SubprocessASGIServer
from prefect.settings import PREFECT_API_URL, temporary_settings
from prefect.utilities.asyncutils import run_coro_as_sync

PR_SET_PDEATHSIG = 1


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


@contextmanager
def prefect_api() -> Iterator[None]:
    """The configured Prefect API, or edco's own temporary server for the length of the block."""
    if PREFECT_API_URL.value():
        yield
        return
    server = _OwnServer()  # Prefect's own code asking for its temporary server (`SubprocessASGIServer()`) gets this one
    server.start()
    try:
        with temporary_settings({PREFECT_API_URL: server.api_url}):
            yield
    finally:
        run_coro_as_sync(_drain())  # else the log and event workers retry a stopped server for a minute at exit
        server.stop()


async def _drain() -> None:
    """Send what Prefect's log and event workers still hold (what `prefect_test_harness` does)."""
    for drain in (lambda: APILogWorker.instance().drain(), EventsWorker.drain_all):
        try:
            result = drain()
        except RuntimeError:  # a worker that never started
            continue
        if inspect.isawaitable(result):
            await result
