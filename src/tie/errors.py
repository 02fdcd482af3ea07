"""Errors the user can fix: printed as one clear message, without a traceback."""

import click


class TieError(click.ClickException):
    """Something the user can fix; the message says what went wrong and what to do."""
