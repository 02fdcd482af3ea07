"""Click commands that turn a `TieError` into a one-line error and exit status 1.

Every entry point uses them: the `tie` group (`cls=Group`) and each stage script
(`@click.command(cls=Command)`), so a user error is never a traceback, and never shows
a password: every message passes through `tie.redact`.

The same path takes a file the system cannot write or read (`OSError`): a full disk
(ENOSPC, a quota), a read-only file system, a permission denied, an I/O error. The line
names the file (the error's, or the file being written or read where the error arose:
the innermost open file of the failed call), what is wrong and what to do; the stage
stops and DVC records nothing.
"""

from __future__ import annotations

import errno
import io
import os

import click

from tie.errors import TieError
from tie.redact import redact


class Command(click.Command):
    """A click command whose `TieError`s and `OSError`s print as `Error: <message>`
    (exit status 1). A stage script's (`stages/<stage>.py`) deps and params must not change
    while it runs (`tie.stage_inputs`)."""

    def invoke(self, ctx: click.Context):
        try:
            fixed = _fixed_inputs(self)
            result = super().invoke(ctx)
            if fixed is not None:
                fixed.check()
            return result
        except TieError as error:
            raise click.ClickException(redact(str(error))) from error
        except OSError as error:
            raise click.ClickException(redact(os_error_message(error))) from error


class Group(click.Group):
    """A click group whose subcommands' `TieError`s and `OSError`s print as
    `Error: <message>`."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except TieError as error:
            raise click.ClickException(redact(str(error))) from error
        except OSError as error:
            raise click.ClickException(redact(os_error_message(error))) from error


def _fixed_inputs(command: click.Command):
    """The stage's inputs as they are now, for a command defined in `stages/<stage>.py`."""
    script = getattr(command.callback, "__globals__", {}).get("__file__") or ""
    if os.path.basename(os.path.dirname(os.path.abspath(script))) != "stages":
        return None
    from tie.stage_inputs import FixedInputs

    return FixedInputs(os.path.splitext(os.path.basename(script))[0])


FULL = (errno.ENOSPC, errno.EDQUOT)
ADVICE = {
    errno.ENOSPC: "no space left on the device: free some space on it (`df -h {folder}`),"
    " then run again",
    errno.EDQUOT: "over the disk quota: free some space or raise the quota, then run again",
    errno.EROFS: "a read-only file system: write to a writable place, then run again",
    errno.EACCES: "permission denied: make it (and its folder) yours to write, then run again",
    errno.EPERM: "operation not permitted: make it (and its folder) yours, then run again",
    errno.EIO: "an input/output error (a failing disk or network file system): check the"
    " disk, then run again",
}


def os_error_message(error: OSError) -> str:
    """One line for an `OSError`: the file, what is wrong, what to do."""
    name = error.filename or _open_file(error)
    advice = ADVICE.get(error.errno)
    if advice is None:
        reason = error.strerror or str(error) or type(error).__name__
        advice = reason
    folder = os.path.dirname(os.path.abspath(name)) if name else "."
    where = f"{name}: " if name else ""
    return f"{where}{advice.format(folder=folder)}"


def _open_file(error: BaseException) -> str | None:
    """The file the failed call was writing or reading: the innermost file object in the
    frames of the error's traceback, or None."""
    frames = []
    tb = error.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for frame in reversed(frames):
        for value in frame.f_locals.values():
            if isinstance(value, io.IOBase) and isinstance(getattr(value, "name", None), str):
                return value.name
    return None
