"""Atomic file writes: a reader (or a resumed run) sees the old file or the new one, never half.

Temp files are dot-prefixed in the target's folder, so the rename stays on one filesystem
and store globs (`*/interval_*/scores.parquet`) never match a file being written.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from edco.faults import fault_point


def atomic_write(path: Path, write: Callable[[Path], None], fault: str = "") -> Path:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        if fault:
            fault_point(fault)  # crash tests: the temp file is complete, the rename not done
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    return path


def write_json(path: Path, obj: Any, fault: str = "") -> Path:
    return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n"), fault)


def write_parquet(path: Path, table: pa.Table, metadata: dict[str, str] | None = None, fault: str = "") -> Path:
    if metadata is not None:  # a stage output describes itself, not the table it was derived from
        table = table.replace_schema_metadata(metadata)
    return atomic_write(path, lambda tmp: pq.write_table(table, tmp), fault)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
