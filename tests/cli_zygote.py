"""A pre-imported process that forks one child per `edco` invocation.

Crash tests start dozens of runs; importing torch, transformers, Prefect and MLflow takes
seconds each time, so this process imports them once and each run is a fork of it. A
child is a real separate process: SIGKILL ends it mid-write with no cleanup, exactly
like a crash. Protocol: one JSON request per stdin line, {"argv": [...], "env": {...}, "log": path};
one JSON reply per line, {"code": int | null, "signal": int | null}.
"""

from __future__ import annotations

import json
import os
import sys

import edco.cli.app
import edco.flows.curriculum  # noqa: F401 - imported for the children
import edco.tracking.mlflow_runs  # noqa: F401


def serve() -> None:
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(log, 1)  # stdout is the reply channel: keep the child's output off it
            os.dup2(log, 2)
            os.environ.update(request.get("env", {}))
            code = 1
            try:
                code = edco.cli.app.main(request["argv"])
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        reply = {
            "code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
            "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None,
        }
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    serve()
