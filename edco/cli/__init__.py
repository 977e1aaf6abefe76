"""The `edco` command line, one module per command group; `edco.cli.app` holds the Typer app and
the table from command to function (its `app` is not re-exported here: the name is the module's)."""

from edco.cli.app import COMMANDS, main

__all__ = ["COMMANDS", "main"]
