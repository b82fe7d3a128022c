"""The `sevenstep` command: one click group, one module per family of subcommands."""

from __future__ import annotations

import click

from pipelines.cli.run_commands import demo, report, run


@click.group()
def main() -> None:
    """sevenstep: the ITIL 7-step improvement process over your ITSM data."""


for command in (demo, run, report):
    main.add_command(command)

if __name__ == "__main__":
    main()
