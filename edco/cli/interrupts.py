"""Stopping a run from outside — SIGTERM from a scheduler or `kill`, Ctrl-C on a terminal — the way
an operator expects: within seconds, every `finally` run (the run lock, launched ranks, the
temporary Prefect server), the MLflow run marked KILLED, exit 128 + the signal's number (143, 130),
and one line saying how to resume. Nothing finished is lost: the store keeps what was sealed. The
temporary Prefect server dying under the run (`ApiLost`) ends it the same way, as FAILED, exit 2.

Python runs a signal's handler only between bytecodes, so while the main thread is inside one long
operator the stop waits for it to return: a backward pass of SmolLM2-135M under emulated bfloat16
(an x86 CPU without AMX or AVX-512 BF16) kept a SIGINT waiting for over a minute. So the signal is also
read from a wakeup fd by a thread of its own (`_StopWatch`), which ends the process itself when the
main thread has not taken the signal within `UNWIND_S`: as a SIGKILL would, but with the MLflow run
marked KILLED and the resume line printed (the store's stages are sealed atomically and the run
lock is an `flock` the kernel releases, so resume is as after any crash)."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn

from prefect.exceptions import TerminationSignal

from edco.cli import output
from edco.errors import EdcoError
from edco.flows.api import ApiLost

UNWIND_S = 10.0  # what the main thread gets to take a stop signal before the process ends itself
STOPS = (signal.SIGTERM, signal.SIGINT)


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
    MLflow runs), or, if the main thread does not take it within `UNWIND_S`, ends the process the
    same way from `_StopWatch`; a lost Prefect API with an `EdcoError` after `on_stop("FAILED")`.
    Yields what ends the process from another thread when the main one cannot get out (`prefect_api`'s `on_lost`)."""
    taken = threading.Event()

    def stop(signum: int, frame: object) -> None:
        taken.set()
        raise Interrupted(signum)

    def end(status: str, error: EdcoError) -> NoReturn:
        on_stop(status)
        output.print_error(error)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(error.exit_code)  # no `finally` left to run, or none that can run in time

    def lost(message: str) -> NoReturn:
        end("FAILED", _api_lost(message, resume))  # the stage unwound already

    previous = signal.signal(signal.SIGTERM, stop), signal.getsignal(signal.SIGINT)
    watch = _StopWatch(taken, lambda signum: end("KILLED", Stopped(signum, resume)))
    try:
        yield lost
    except (Interrupted, TerminationSignal, KeyboardInterrupt) as exc:
        taken.set()
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # a second signal must not cut the cleanup short
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        on_stop("KILLED")
        raise Stopped(_signum(exc), resume) from None
    except ApiLost as exc:
        on_stop("FAILED")
        raise _api_lost(str(exc), resume) from None
    finally:
        watch.close()
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


class _StopWatch(threading.Thread):
    """Reads the numbers of the signals the process receives from a wakeup fd, which the C-level
    handler writes at once, even while the main thread is inside one long operator. For a stop
    signal it waits `UNWIND_S` for the main thread to take it (`taken`: edco's SIGTERM handler ran,
    or the stop reached `stoppable` as Prefect's `TerminationSignal` or a `KeyboardInterrupt`),
    else calls `overdue(signum)`, which ends the process."""

    def __init__(self, taken: threading.Event, overdue: Callable[[int], None]) -> None:
        super().__init__(name="edco-stop-watch", daemon=True)
        self.taken, self.overdue = taken, overdue
        self.read_fd, self.write_fd = os.pipe()
        os.set_blocking(self.write_fd, False)
        self.previous = signal.set_wakeup_fd(self.write_fd, warn_on_full_buffer=False)
        self.start()

    def run(self) -> None:
        while data := os.read(self.read_fd, 64):
            stops = [signum for signum in data if signum in STOPS]
            if stops and not self.taken.wait(UNWIND_S):
                self.overdue(stops[0])
        os.close(self.read_fd)

    def close(self) -> None:
        """No more signals to watch: the wakeup fd restored, and the thread ends with the pipe."""
        signal.set_wakeup_fd(self.previous)
        os.close(self.write_fd)


def _api_lost(message: str, resume: str) -> EdcoError:
    return EdcoError(f"{message}; the finished stages are kept", hint=f"resume with: {resume}")
