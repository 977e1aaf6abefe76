"""Where a run continues: the first interval that is not finished and intact on disk.

Resume reads the store, never memory or logs. A finished interval whose files no longer
match its manifest is set aside (moved, not deleted) together with every later interval,
since each interval starts from the previous one's checkpoint. When the checkpoint an
interval to redo starts from was pruned (storage.keep_checkpoints), the run goes back to
the latest interval whose starting checkpoint still exists.
"""

from __future__ import annotations

from edco.storage.store import NOT_FINISHED, RunStore


def resume_point(store: RunStore, intervals: int) -> tuple[int, list[str]]:
    """(first interval to run, messages for the user about anything set aside)."""
    store.verify_run_files()
    store.remove_stale_temp_files()
    for interval in range(intervals):
        problem = store.interval_problem(interval)
        if problem is None:
            continue
        start = interval
        while start > 0 and store.checkpoint_pruned(start - 1):
            start -= 1
        in_place = problem == NOT_FINISHED and start == interval  # an unfinished interval is resumed in place
        notes = []
        for i in range(start + in_place, intervals):
            if store.interval_dir(i).exists():
                reason = _reason(i, interval, problem)
                notes.append(f"interval {i}: {reason}; moved to {store.set_aside(i, reason)}")
        if notes:
            intact = "the intervals before it are intact" if start else "no interval is intact"
            notes.append(f"resuming from interval {start}; {intact}")
        return start, notes
    return intervals, []


def _reason(i: int, interval: int, problem: str) -> str:
    if i == interval:
        return problem
    if i > interval:
        return f"interval {interval} before it is not intact"
    return f"interval {interval} must be redone and the checkpoint it starts from was pruned (storage.keep_checkpoints)"
