"""`edco` command line: the app is a table from command to function, each command in the module
of its group; this package is the only part of the core that sits on top of flows/, tasks/ and storage/.

Every command takes argv and returns an exit code (tests call `main([...])`); expected
failures print one line and a hint and exit 2, `--debug` shows the traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Annotated

import typer
from typer.exceptions import TyperException

from edco.cli import bench, curriculum, data, output, query
from edco.errors import EdcoError

COMMANDS: dict[str, dict[str, Callable[..., None]]] = {  # group ("" for the top level) -> command -> function
    "": {
        "run": curriculum.run,
        "resume": curriculum.resume,
        "compare": curriculum.compare,
        "sql": query.sql,
        "runs": query.runs,
        "show": query.show,
        "turnover": query.turnover,
        "report": query.report,
        "ui": query.ui,
        "config-docs": query.config_docs,
    },
    "data": {"demo": data.data_demo, "teleqna": data.data_teleqna},
    "bench": {"prefix-vs-full": bench.bench_prefix_vs_full},
}
GROUP_HELP = {"data": "Data utilities.", "bench": "Measurements on your model and data (docs/BENCHMARKS.md)."}
_state = {"debug": False}

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Entropy-based Dynamic Curriculum Orchestration.")


@app.callback()
def _options(debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False) -> None:
    _state["debug"] = debug


for group, commands in COMMANDS.items():
    target = app if not group else typer.Typer(no_args_is_help=True, help=GROUP_HELP[group])
    for name, function in commands.items():
        target.command(name)(function)
    if group:
        app.add_typer(target, name=group)


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv if argv is not None else sys.argv[1:], prog_name="edco", standalone_mode=False)
    except EdcoError as exc:
        if _state["debug"]:
            raise
        output.print_error(exc)
        return exc.exit_code
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        return 130
    except TyperException as exc:  # usage errors (typer's vendored click exceptions)
        exc.show()
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
