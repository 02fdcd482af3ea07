"""Click commands that turn a `TieError` into a one-line error and exit status 1.

Every entry point uses them: the `tie` group (`cls=Group`) and each stage script
(`@click.command(cls=Command)`), so a user error is never a traceback, and never shows
a password: every message passes through `tie.redact`.
"""

from __future__ import annotations

import click

from tie.errors import TieError
from tie.redact import redact


class Command(click.Command):
    """A click command whose `TieError`s print as `Error: <message>` (exit status 1)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TieError as error:
            raise click.ClickException(redact(str(error))) from error


class Group(click.Group):
    """A click group whose subcommands' `TieError`s print as `Error: <message>`."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TieError as error:
            raise click.ClickException(redact(str(error))) from error
