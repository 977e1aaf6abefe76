"""One writer per run.

An advisory `flock` is released by the kernel when its holder dies, even by SIGKILL, so a
stale lock from a dead process is taken over without guessing from PIDs; the PID and host
written into the file are for the message shown to the second writer.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

from edco.errors import StoreError


class RunLock:
    """Held for a whole `edco run`/`resume`; lives beside the run so a refused start creates no run folder."""

    def __init__(self, run_dir: Path) -> None:
        run_dir = Path(run_dir)
        self.run_name = run_dir.name
        self.path = run_dir.parent / ".locks" / f"{run_dir.name}.lock"
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot create {self.path} ({exc.strerror}): the storage root is not writable",
                hint="set storage.root or --root to a writable folder",
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            raise StoreError(
                f"run {self.run_name} is already running (pid {holder.get('pid', '?')} on host "
                f"{holder.get('host', '?')}, lock {self.path})",
                hint="wait for it to finish, or stop that process first",
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}).encode(), 0)
        self._fd = fd
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def _read_holder(fd: int) -> dict:
    try:
        return json.loads(os.pread(fd, 4096, 0) or b"{}")
    except ValueError:
        return {}


@contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Block until no other process holds `path`: for short critical sections across runs."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def is_running(run_dir: Path) -> bool:
    """Whether some process holds the run's lock right now (it is released when its holder dies)."""
    path = Path(run_dir).parent / ".locks" / f"{Path(run_dir).name}.lock"
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing releases the probe's shared lock
    return False
