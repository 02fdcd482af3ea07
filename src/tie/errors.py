"""Errors the user can fix: printed as one clear message, without a traceback.

`TieError` is a plain exception, so the library does not depend on click; the command
line (`tie.commands`) turns it into a one-line error and exit status 1.
"""


class TieError(Exception):
    """Something the user can fix; the message says what went wrong and what to do."""
