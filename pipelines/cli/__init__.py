"""The `sevenstep` command: one click group; every module in this package that defines a
`COMMANDS` list contributes its subcommands, so a new family of commands is a new module."""

import importlib
import pkgutil
import warnings

import click
import dagster as dg

# backfill_policy on assets is marked beta in Dagster 1.13; users cannot act on the warning.
warnings.filterwarnings("ignore", category=dg.BetaWarning)


class _Commands(click.Group):
    """Errors a user can act on end the command with their message, not a traceback."""

    def invoke(self, ctx: click.Context) -> object:
        from resources.warehouse import WarehouseBusy

        try:
            return super().invoke(ctx)
        except WarehouseBusy as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Commands)
def main() -> None:
    """sevenstep: the ITIL 7-step improvement process over your ITSM data."""


for _module in pkgutil.iter_modules(__path__):
    for _command in getattr(importlib.import_module(f"{__name__}.{_module.name}"), "COMMANDS", []):
        main.add_command(_command)

if __name__ == "__main__":
    main()
