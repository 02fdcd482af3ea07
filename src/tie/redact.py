"""Credentials out of sight: `user:password@` removed from every URI in a text.

Tracking URIs (`MLFLOW_TRACKING_URI=http://alice:secret@host`), DVC remotes and download
mirrors may carry credentials; every message and log line that shows one goes through
`redact`, so a password never reaches a terminal, a log file or an issue report.
"""

from __future__ import annotations

import re

# scheme://userinfo@  (userinfo: anything up to the first '@' before the host's end)
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^/?#\s@]*@")


def redact(text: str) -> str:
    """`text` with the user and password of every `scheme://user:password@host` removed.

    Examples
    --------
    >>> redact("could not reach http://alice:pa55word@example.org:5000/api")
    'could not reach http://example.org:5000/api'
    """
    return _USERINFO.sub(lambda match: match["scheme"], str(text))
