"""Stopping a run from outside — SIGTERM from a scheduler or `kill`, Ctrl-C on a terminal — the way
an operator expects: within seconds, every `finally` run (the run lock, launched ranks, the
temporary Prefect server), the MLflow run marked KILLED, exit 128 + the signal's number (143, 130),
and one line saying how to resume. Nothing finished is lost: the store keeps what was sealed."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from prefect.exceptions import TerminationSignal

from edco.errors import EdcoError


class Interrupted(BaseException):
    """A stop signal, raised where the process is: a BaseException, so no `except Exception` of a
    stage takes it for a failure to retry (Prefect raises its own `TerminationSignal` for SIGTERM
    inside a flow, and Python `KeyboardInterrupt` for SIGINT)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Stopped(EdcoError):
    """The run was stopped by a signal; what it finished is kept."""

    def __init__(self, signum: int, resume: str) -> None:
        name = signal.Signals(signum).name
        super().__init__(f"stopped by {name}; the finished stages are kept", hint=f"resume with: {resume}")
        self.exit_code = 128 + signum


def _signum(exc: BaseException) -> int:
    if isinstance(exc, KeyboardInterrupt):
        return signal.SIGINT
    if isinstance(exc, TerminationSignal):
        return exc.signal
    return exc.signum


@contextmanager
def stoppable(resume: str, on_stop: Callable[[], None]) -> Iterator[None]:
    """SIGTERM raises `Interrupted` here (not the default: death without cleanup), Ctrl-C as
    Python raises it; either ends the block with `Stopped` after `on_stop` (marking the MLflow run)."""

    def stop(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    previous = signal.signal(signal.SIGTERM, stop), signal.getsignal(signal.SIGINT)
    try:
        yield
    except (Interrupted, TerminationSignal, KeyboardInterrupt) as exc:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        on_stop()
        raise Stopped(_signum(exc), resume) from None
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])
