"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half.

Temp files are dot-prefixed in the target's folder, so the rename stays on one filesystem
and store globs (`*/interval_*/scores.parquet`) never match a file being written.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from edco.errors import StoreError
from edco.faultpoints import fault_point


class DiskFullError(StoreError):
    """A write found its filesystem full: nothing of it is left, and retrying would fail alike."""

    hint = "free space on that filesystem (or set storage.root to a larger one) and resume: finished work is kept"


FULL = (errno.ENOSPC, errno.EDQUOT)


def is_disk_full(exc: BaseException) -> bool:
    """Whether a write failed for lack of space: an OSError with ENOSPC/EDQUOT, or a writer that
    wraps the OS error in its own (safetensors' Rust writer says `StorageFull`, pyarrow keeps the
    errno text)."""
    if isinstance(exc, OSError) and exc.errno in FULL:
        return True
    text = str(exc)
    return "No space left on device" in text or "StorageFull" in text or "Disk quota exceeded" in text


def disk_full(path: Path, written: int, needed: int | None = None) -> DiskFullError:
    """The one-line error of a write to `path` that ran out of space after `written` bytes;
    `needed`: what the whole write takes, when the caller knows it."""
    free = shutil.disk_usage(path.parent if path.parent.exists() else Path(path.anchor)).free
    size = f"it needs about {size_text(needed)}" if needed else f"it needs more than the {size_text(written)} written"
    return DiskFullError(f"no space left writing {path}: {size}, {size_text(free)} free there; nothing of it was kept")


def size_text(n: float) -> str:
    """A byte count as people read it (KiB, MiB, GiB)."""
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{n:.0f} B" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def tree_bytes(path: Path) -> int:
    """The bytes of a file, or of every file under a folder (0 when absent)."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0


def atomic_write(path: Path, write: Callable[[Path], None], fault: str = "", needed: int | None = None) -> Path:
    """`write(tmp)` renamed to `path` once complete; a full disk is a `DiskFullError` (`needed`:
    the write's size when the caller knows it)."""
    tmp = temp_path(path)
    try:
        write(tmp)
        _fsync(tmp)
        if fault:
            fault_point(fault)  # crash tests: the temp file is complete, the rename not done
        os.replace(tmp, path)
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full(path, tree_bytes(tmp), needed) from None
        raise
    finally:
        tmp.unlink(missing_ok=True)
    _fsync(path.parent)
    return path


def atomic_dir(path: Path, write: Callable[[Path], None], fault: str = "", needed: int | None = None) -> Path:
    """A folder that appears whole or not at all (a checkpoint that `from_pretrained` loads).

    A folder left at `path` by an earlier attempt is replaced: the caller holds the run lock
    and only writes outputs of an unfinished stage. A full disk is a `DiskFullError`.
    """
    tmp = temp_path(path)
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        write(tmp)
        for file in sorted(p for p in tmp.rglob("*") if p.is_file()):
            _fsync(file)
        _fsync(tmp)
        if fault:
            fault_point(fault)
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except Exception as exc:
        if is_disk_full(exc):
            raise disk_full(path, tree_bytes(tmp), needed) from None
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    _fsync(path.parent)
    return path


def temp_path(path: Path) -> Path:
    """Dot-prefixed, per process, beside the target: `remove_stale_temp_files` finds what a killed writer left."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json(path: Path, obj: Any, fault: str = "") -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"), fault)


def write_parquet(path: Path, table: pa.Table, metadata: dict[str, str] | None = None, fault: str = "") -> Path:
    if metadata is not None:  # a stage output describes itself, not the table it was derived from
        table = table.replace_schema_metadata(metadata)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp), fault, needed=table.nbytes)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def unwritable(folder: Path) -> str | None:
    """None when files can be created in `folder` (made if missing), else why not. Tried rather than
    read from permission bits, which a read-only mount, and root, make say the wrong thing."""
    probe = folder / f".write-probe-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        return exc.strerror or str(exc)
    return None
