"""One interval's training on several processes: what each rank runs under torchrun or accelerate.

    python -m edco.tasks.train_worker RUN_DIR INTERVAL OUT_DIR

Every rank loads the interval's starting model and its selection from the run store and calls the
same `edco.training.train` as a one-process run (TRL's trainers run data parallel under the
launcher's environment). Rank 0 writes the checkpoint and the stats into OUT_DIR; the train stage
(`tasks/train.py`) checks them and moves them into the store, so the store's rules on outputs,
manifests and resume hold unchanged. Progress goes to stdout as `edco-progress DONE TOTAL` lines,
which the stage forwards.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from edco import training
from edco.faultpoints import fault_point
from edco.models.loading import load_model, load_tokenizer, save_checkpoint
from edco.seeds import derive_seed, seed_everything
from edco.storage.store import RunStore
from edco.storage.verdicts import store_judge

PROGRESS = "edco-progress"
WORLD_MISMATCH = 3  # exit code: the launcher ran another number of processes than asked


def main(argv: list[str]) -> int:
    run_dir, interval, out = argv[0], int(argv[1]), Path(argv[2])
    store = RunStore(run_dir)
    cfg = store.config()
    rank, world = int(os.environ.get("RANK", "0")), training.world_size()
    if world != cfg.training.num_processes:
        print(
            f"edco: {cfg.training.launcher} started {world} process(es), training.num_processes asks for "
            f"{cfg.training.num_processes}",
            file=sys.stderr,
        )
        return WORLD_MISMATCH
    seed_everything(derive_seed(cfg.seed, interval, "train"))  # as the one-process stage seeds
    model = load_model(cfg.model, store.model_checkpoint(interval), training=True)
    tokenizer = load_tokenizer(cfg.model)
    judge = store_judge(cfg, store.run_dir.parent, store.name, interval)

    def progress(done: int, total: int) -> None:
        if 2 * done >= total:
            fault_point(f"train.rank{rank}.mid@{interval}")  # crash tests: one rank dies mid-training
        if rank == 0:
            print(f"{PROGRESS} {done} {total}", flush=True)

    stats = training.train(
        model, tokenizer, store.selected_records(interval), cfg, interval, progress=progress, judge=judge
    )
    if rank == 0:
        save_checkpoint(model, tokenizer, out / "checkpoint")
        (out / "stats.json").write_text(json.dumps({**stats.to_json(), "world_size": world}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
