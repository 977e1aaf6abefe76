"""Named fault points, so crash and retry tests hit exact places in real code paths.

Inactive unless an environment variable names the point (tests set them in a subprocess):
    EDCO_KILL_AT=<point>       the process SIGKILLs itself there (a crash: no cleanup runs)
    EDCO_FAIL_AT=<point>       raises InjectedFault (a transient OSError) there
    EDCO_FAIL_ONCE_FILE=<path> with EDCO_FAIL_AT: fail only while <path> does not exist yet,
                               so a retry of the same stage succeeds
Points are named "<stage>.<where>@<interval>", e.g. "train.mid@1", "parquet.write@2".
"""

from __future__ import annotations

import os
import signal
from pathlib import Path


class InjectedFault(OSError):
    """A stand-in for a transient I/O failure (a flaky disk or network share)."""


def fault_point(name: str) -> None:
    if os.environ.get("EDCO_KILL_AT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if os.environ.get("EDCO_FAIL_AT") == name:
        marker = os.environ.get("EDCO_FAIL_ONCE_FILE")
        if marker:
            if Path(marker).exists():
                return
            Path(marker).touch()
        raise InjectedFault(f"injected fault at {name}")
