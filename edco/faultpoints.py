"""Named fault points, so crash and retry tests hit exact places in real code paths.

Inactive unless an environment variable names the point (tests set them in a subprocess):
    EDCO_KILL_AT=<point>       the process SIGKILLs itself there (a crash: no cleanup runs)
    EDCO_KILL_ONCE_FILE=<path> with EDCO_KILL_AT: kill only while <path> does not exist yet, so
                               a process restarted to retry the same work (a Ray actor) gets through
    EDCO_FAIL_AT=<point>       raises InjectedFault (a transient OSError) there
    EDCO_FAIL_ONCE_FILE=<path> with EDCO_FAIL_AT: fail only while <path> does not exist yet,
                               so a retry of the same stage succeeds
    EDCO_BLOCK_AT=<point>      the thread computes in C code there for many minutes without
                               returning to Python (one long operator, which a signal's Python
                               handler waits for); creates $EDCO_BLOCKED_FILE first, if set
Points are named "<stage>.<where>@<interval>", e.g. "train.mid@1", "parquet.write@2".
"""

from __future__ import annotations

import hashlib
import os
import signal
from pathlib import Path


class InjectedFault(OSError):
    """A stand-in for a transient I/O failure (a flaky disk or network share)."""


def fault_point(name: str) -> None:
    if os.environ.get("EDCO_KILL_AT") == name and _first_time(os.environ.get("EDCO_KILL_ONCE_FILE")):
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("EDCO_FAIL_AT") == name and _first_time(os.environ.get("EDCO_FAIL_ONCE_FILE")):
        raise InjectedFault(f"injected fault at {name}")
    if os.environ.get("EDCO_BLOCK_AT") == name:
        if marker := os.environ.get("EDCO_BLOCKED_FILE"):
            Path(marker).touch()
        hashlib.pbkdf2_hmac("sha256", b"edco", b"fault", 2**31 - 1)  # one C call, the GIL released


def _first_time(marker: str | None) -> bool:
    """True without a marker file; with one, only until it exists (it is created now)."""
    if not marker:
        return True
    if Path(marker).exists():
        return False
    Path(marker).touch()
    return True
