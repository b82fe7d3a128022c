"""Option types shared by the `sevenstep` subcommands."""

from __future__ import annotations

import datetime as dt

import click


class DayType(click.ParamType):
    """A calendar day written YYYY-MM-DD: a mistyped day is a usage error naming the option,
    not a traceback from deep inside a run."""

    name = "YYYY-MM-DD"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> dt.date:
        if isinstance(value, dt.date):
            return value
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date as YYYY-MM-DD", param, ctx)


DAY = DayType()
