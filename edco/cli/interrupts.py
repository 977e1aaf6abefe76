"""Stopping a run from outside — SIGTERM from a scheduler or `kill`, Ctrl-C on a terminal — the way
an operator expects: within seconds, every `finally` run (the run lock, launched ranks, the
temporary Prefect server), the MLflow run marked KILLED, exit 128 + the signal's number (143, 130),
and one line saying how to resume. Nothing finished is lost: the store keeps what was sealed. The
temporary Prefect server dying under the run (`ApiLost`) ends it the same way, as FAILED, exit 2."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from prefect.exceptions import TerminationSignal

from edco.cli import output
from edco.errors import EdcoError
from edco.flows.api import ApiLost


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
def stoppable(resume: str, on_stop: Callable[[str], None]) -> Iterator[Callable[[str], NoReturn]]:
    """SIGTERM raises `Interrupted` here (not the default: death without cleanup), Ctrl-C as
    Python raises it; either ends the block with `Stopped` after `on_stop("KILLED")` (marking the
    MLflow runs); a lost Prefect API with an `EdcoError` after `on_stop("FAILED")`. Yields what
    ends the process from another thread when the main one cannot get out (`prefect_api`'s `on_lost`)."""

    def stop(signum: int, frame: object) -> None:
        raise Interrupted(signum)

    def lost(message: str) -> NoReturn:
        on_stop("FAILED")
        error = _api_lost(message, resume)
        output.print_error(error)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(error.exit_code)  # no `finally` left to run: the stage unwound already

    previous = signal.signal(signal.SIGTERM, stop), signal.getsignal(signal.SIGINT)
    try:
        yield lost
    except (Interrupted, TerminationSignal, KeyboardInterrupt) as exc:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        on_stop("KILLED")
        raise Stopped(_signum(exc), resume) from None
    except ApiLost as exc:
        on_stop("FAILED")
        raise _api_lost(str(exc), resume) from None
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def _api_lost(message: str, resume: str) -> EdcoError:
    return EdcoError(f"{message}; the finished stages are kept", hint=f"resume with: {resume}")
