"""Errors the user can fix: printed as one clear message, without a traceback.

`TieError` is a plain exception, so the library does not depend on click; the command
line (`tie.commands`) turns it into a one-line error and exit status 1.
"""


class TieError(Exception):
    """Something the user can fix; the message says what went wrong and what to do."""


class DataError(TieError):
    """A problem of the data a step was given (not of params.yaml): the message names the
    file."""


MAX_QUOTED = 200  # characters of a value a message quotes: a message stays one short line


def shorten(value, limit: int = MAX_QUOTED) -> str:
    """`repr(value)` cut to about `limit` characters (then ending in `...`).

    Every message that echoes a user's value goes through it, so that a huge value (a
    YAML alias bomb, a megabyte caption) never makes a huge message: the repr is built
    piece by piece and stops past the limit, it is never built whole.
    """
    out: list[str] = []
    size = 0

    def walk(item) -> bool:  # False once past the limit
        nonlocal size
        if isinstance(item, (list, tuple, dict)):
            opening, closing = {list: "[]", tuple: "()"}.get(type(item), "{}")
            out.append(opening)
            size += 1
            pieces = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            for index, (key, child) in enumerate(pieces):
                out.append((", " if index else "") + ("" if key is None else f"{key!r}: "))
                size += len(out[-1])
                if size > limit or not walk(child):
                    return False
            out.append(closing)
            return True
        text = repr(item[: limit + 1] if isinstance(item, str) else item)[: limit + 1]
        out.append(text)
        size += len(text)
        return size <= limit

    walk(value)
    text = "".join(out)
    return text if len(text) <= limit else text[:limit] + "..."
