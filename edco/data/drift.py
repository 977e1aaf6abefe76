"""How a data source differs from a run's frozen snapshot of it: what a resume says when the file
a run was created from has changed since (the snapshot is what the run keeps using)."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa


@dataclass(frozen=True)
class Drift:
    """Records of the source that the snapshot lacks, records of the snapshot the source lost, and
    records whose content differs (by id; row numbers are not content)."""

    added: int
    removed: int
    changed: int

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.changed)

    def describe(self) -> str:
        parts = [
            f"{n} record(s) {what}"
            for n, what in ((self.added, "added"), (self.removed, "removed"), (self.changed, "changed"))
            if n
        ]
        return ", ".join(parts)


def drift(snapshot: pa.Table, current: pa.Table) -> Drift:
    """`current` (the source as it loads now) against `snapshot` (the run's frozen records)."""
    before, now = _by_id(snapshot), _by_id(current)
    return Drift(
        added=len(now.keys() - before.keys()),
        removed=len(before.keys() - now.keys()),
        changed=sum(1 for key in before.keys() & now.keys() if before[key] != now[key]),
    )


def _by_id(table: pa.Table) -> dict[str, dict]:
    return {row["id"]: {k: v for k, v in row.items() if k != "row"} for row in table.to_pylist()}
