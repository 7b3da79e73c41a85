"""`qbo-pipeline` command line. Each concern lives in its own module and registers itself here."""
from __future__ import annotations

import importlib

import click

# One module per concern; each exposes `commands`: a list of click commands/groups.
_COMMAND_MODULES = (
    "emulator",   # qbo-pipeline emulator
    "db",         # qbo-pipeline db upgrade, rotate-key
    "connect",    # qbo-pipeline connect / disconnect
    "webhooks",   # qbo-pipeline webhooks serve
    "sync",       # qbo-pipeline sync
    "ops",        # qbo-pipeline status / errors / retry / dedupe
    "demo",       # qbo-pipeline demo
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """QuickBooks Online <-> JobsiteOn sync pipeline."""


def _register() -> None:
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__name__}.{name}":
                continue  # that concern is not built yet
            raise
        for command in getattr(module, "commands", ()):
            main.add_command(command)


_register()
