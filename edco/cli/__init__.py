"""The `edco` command line (`edco.cli.app`), one module per command group."""

from edco.cli.app import COMMANDS, app, main

__all__ = ["COMMANDS", "app", "main"]
