"""Where a run continues: the first interval that is not finished and intact on disk.

Resume reads the store, never memory or logs. A finished interval whose files no longer
match its manifest is set aside (moved, not deleted) together with every later interval,
since each interval starts from the previous one's checkpoint.
"""

from __future__ import annotations

from storage.store import RunStore

NOT_FINISHED = "not finished"


def resume_point(store: RunStore, intervals: int) -> tuple[int, list[str]]:
    """(first interval to run, messages for the user about anything set aside)."""
    store.verify_run_files()
    store.remove_stale_temp_files()
    notes: list[str] = []
    for interval in range(intervals):
        problem = store.interval_problem(interval)
        if problem is None:
            continue
        first_bad = interval + 1 if problem == NOT_FINISHED else interval  # an unfinished interval is resumed in place
        for i in range(first_bad, intervals):
            if store.interval_dir(i).exists():
                reason = problem if i == interval else f"interval {interval} before it is not intact"
                notes.append(f"interval {i}: {reason}; moved to {store.set_aside(i, reason)}")
        if notes:
            intact = "the intervals before it are intact" if interval else "no interval is intact"
            notes.append(f"resuming from interval {interval}; {intact}")
        return interval, notes
    return intervals, notes
