"""A real 2-node Ray cluster on 127.0.0.1 whose worker node is killed mid-scoring, for
tests/scoring/test_ray_scoring.py (run in a fresh process):

    python -m tests.ray_cluster MODEL_DIR OUT.json

Both nodes are `ray start --block` processes in process groups of their own, stopped by killing
those groups — never `ray stop`, which would end every Ray process of the user on the machine.
Token authentication is off: the cluster listens on 127.0.0.1 only, for the length of the test.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ENV = {**os.environ, "RAY_AUTH_MODE": "disabled"}


class Node:
    def __init__(self, *args: str) -> None:
        ray = shutil.which("ray", path=os.path.dirname(sys.executable))
        self.proc = subprocess.Popen(
            [ray, "start", "--block", *args],
            env=ENV,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=30)


@contextmanager
def two_nodes(head_cpus: int, worker_cpus: int) -> Iterator[tuple[str, Node]]:
    """(address, worker node) of a head and a worker node on 127.0.0.1, this process connected
    to them; both stopped by process group afterwards (the benchmarks use it too)."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    import ray

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"127.0.0.1:{port}"
    head = Node(
        "--head",
        "--node-ip-address=127.0.0.1",
        f"--port={port}",
        f"--num-cpus={head_cpus}",
        "--include-dashboard=false",
    )
    worker = Node(f"--address={address}", "--node-ip-address=127.0.0.1", f"--num-cpus={worker_cpus}")
    try:
        ray.init(address=address, log_to_driver=False)
        deadline = time.time() + 120
        while len([n for n in ray.nodes() if n["Alive"]]) < 2:
            if time.time() > deadline:
                raise SystemExit("the worker node never joined")
            time.sleep(1)
        yield address, worker
    finally:
        ray.shutdown()
        worker.kill()
        head.kill()
        current = Path("/tmp/ray/ray_current_cluster")  # what `ray start` left for the next ray.init to join
        if current.exists() and current.read_text().strip().endswith(f":{port}"):
            current.unlink()


def main(model_dir: str, out: str) -> None:
    from edco.config.schema import ModelConfig, RayConfig
    from edco.models.loading import load_tokenizer
    from edco.scoring import ray_scoring
    from tests.helpers import QUESTIONS, make_records
    from tests.scoring.test_ray_scoring import CFG, SEED

    with two_nodes(head_cpus=2, worker_cpus=1) as (address, worker):
        results: list[int] = []

        def kill_worker_node(done: int, total: int) -> None:
            # Each actor was given one batch at the start and a new one with each result: by the third
            # result both nodes have answered, and the worker node's actor is in the middle of a batch.
            results.append(done)
            if len(results) == 3:
                worker.kill()

        model = ModelConfig(name=model_dir)
        pool = make_records(QUESTIONS * 6, ids=[f"s{i:02d}" for i in range(42)])
        table = ray_scoring.score_table(
            model, None, load_tokenizer(model), pool, CFG, RayConfig(address=address), SEED, kill_worker_node
        )
        found = {
            "results": len(results),
            "nodes": int(table.schema.metadata[b"ray_nodes"]),
            "ids": table["sample_id"].to_pylist(),
            "scores": table["score"].to_pylist(),
        }
        Path(out).write_text(json.dumps(found))


if __name__ == "__main__":
    main(*sys.argv[1:])
