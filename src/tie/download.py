"""Fetching a file over HTTP(S): resumable, retried, verified, moved into place only when good.

`fetch` streams into `<name>.part` beside the destination. After an interruption it asks the
server for the rest only (an HTTP Range request) and appends; a server that ignores Range
sends the whole file again, which then replaces the partial one. Size and checksum are
checked before the `.part` file is renamed to its final name, so a file under its final name
is always complete. A file already in place and valid is not fetched again. A file in place
that fails the check is never deleted (the user may have put it there by hand): the error
names it and says what to do.

`TIE_DOWNLOAD_MIRROR` (or `mirror=`) points every file at another server: the file named
`<name>` is then fetched from `<mirror>/<name>`.
"""

from __future__ import annotations

import hashlib
import os
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

from tie.errors import TieError

MIRROR_ENV = "TIE_DOWNLOAD_MIRROR"
CHECKSUM_ALGORITHMS = ("md5", "sha256")
ATTEMPTS = 5  # tries per file; each after an interruption resumes where the last stopped
BACKOFF_S = 2.0  # wait before the second try; doubled before each further one
TIMEOUT_S = 60.0  # a connection silent this long counts as interrupted
CHUNK_BYTES = 1 << 20
USER_AGENT = "tie-downloader/1"


@dataclass(frozen=True)
class RemoteFile:
    """A file to download: its local `name`, its `url`, and what a good copy looks like.

    `checksum` is "md5:<hex>" or "sha256:<hex>", or None where none is published; `size`
    is in bytes, or None where unknown. What is given is checked; what is None is not.
    """

    name: str
    url: str
    checksum: str | None = None
    size: int | None = None

    def __post_init__(self):
        if not self.name or Path(self.name).name != self.name:
            raise ValueError(f"RemoteFile name must be a plain file name, got {self.name!r}")
        if self.checksum is not None:
            algorithm, _, digest = self.checksum.partition(":")
            if algorithm not in CHECKSUM_ALGORITHMS or not digest:
                raise ValueError(
                    f"checksum of {self.name} must look like 'md5:<hex>' or 'sha256:<hex>', "
                    f"got {self.checksum!r}"
                )


def source_url(remote: RemoteFile, mirror: str | None = None) -> str:
    """The URL `remote` is fetched from: `<mirror>/<name>` when a mirror is set, else its url."""
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV)
    if mirror:
        return f"{mirror.rstrip('/')}/{remote.name}"
    return remote.url


def fetch(
    remote: RemoteFile,
    dest_dir: str | Path,
    mirror: str | None = None,
    *,
    attempts: int = ATTEMPTS,
    backoff_s: float = BACKOFF_S,
) -> Path:
    """Download `remote` into `dest_dir` unless a valid copy is there; return its path.

    Raises TieError when the file cannot be fetched after `attempts` tries, when the server
    answers with a client error (a wrong URL), or when a file fails its size or checksum check.
    """
    dest_dir = Path(dest_dir)
    dest = dest_dir / remote.name
    if dest.exists():
        problem = verification_problem(dest, remote)
        if problem:
            raise TieError(
                f"{dest} is already there but is not the expected file: {problem}. It was left "
                "untouched; if you placed it by hand, check that it is the right file, "
                "otherwise delete it to download it again"
            )
        return dest

    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    url = source_url(remote, mirror)
    for attempt in range(1, attempts + 1):
        try:
            _download_to(url, part, remote)
            break
        except (urllib.error.URLError, HTTPException, OSError) as error:
            if _is_client_error(error):
                raise TieError(
                    f"cannot download {remote.name} from {url}: {error}. Check the URL, or set "
                    f"{MIRROR_ENV} to a server that has the file"
                ) from error
            if attempt == attempts:
                raise TieError(
                    f"download of {remote.name} from {url} failed {attempts} times, last with: "
                    f"{error}. Run the same command again to resume from "
                    f"{part.stat().st_size if part.exists() else 0} bytes"
                ) from error
            wait = backoff_s * 2 ** (attempt - 1)
            tqdm.write(f"{remote.name}: {error}; retrying in {wait:g} s ({attempt}/{attempts})")
            time.sleep(wait)

    problem = verification_problem(part, remote)
    if problem:
        part.unlink()
        raise TieError(
            f"the download of {remote.name} from {url} is not the expected file: {problem}. "
            "The bad download was discarded; try again, or fetch it from another source "
            f"(set {MIRROR_ENV})"
        )
    part.replace(dest)
    return dest


def verification_problem(path: Path, remote: RemoteFile) -> str | None:
    """What is wrong with `path` as a copy of `remote` (size, then checksum), or None."""
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"its size is {size} bytes, expected {remote.size}"
    if remote.checksum is not None:
        algorithm, _, expected = remote.checksum.partition(":")
        actual = file_digest(path, algorithm)
        if actual != expected.lower():
            return f"its {algorithm} is {actual}, expected {expected.lower()}"
    return None


def file_digest(path: Path, algorithm: str) -> str:
    """The hex digest of a file's bytes, read in chunks, with a progress bar for big files."""
    digest = hashlib.new(algorithm)
    size = path.stat().st_size
    with (
        path.open("rb") as stream,
        tqdm(
            total=size,
            unit="B",
            unit_scale=True,
            desc=f"checking {path.name}",
            disable=size < 64 * CHUNK_BYTES,
        ) as progress,
    ):
        while chunk := stream.read(CHUNK_BYTES):
            digest.update(chunk)
            progress.update(len(chunk))
    return digest.hexdigest()


def _download_to(url: str, part: Path, remote: RemoteFile) -> None:
    """Fill `part` with the bytes of `url`, resuming from its current length if it exists.

    Raises OSError (or an HTTP/URL error) when the transfer stops before its end.
    """
    offset = part.stat().st_size if part.exists() else 0
    if remote.size is not None and offset >= remote.size:
        if offset == remote.size:
            return  # complete already: only the check and the rename were left to do
        part.unlink()  # longer than the file can be: not a prefix of it
        offset = 0

    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=TIMEOUT_S)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # nothing after `offset`: start again from scratch
            part.unlink()
        raise
    with response:
        if offset and response.status != 206:
            offset = 0  # the server sent the whole file: it replaces the partial one
        length = response.headers.get("Content-Length")
        expected_end = offset + int(length) if length is not None else remote.size
        with (
            part.open("ab" if offset else "wb") as out,
            tqdm(
                total=expected_end,
                initial=offset,
                unit="B",
                unit_scale=True,
                desc=remote.name,
            ) as progress,
        ):
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                progress.update(len(chunk))
    received_end = part.stat().st_size
    if expected_end is not None and received_end < expected_end:
        raise ConnectionError(f"connection closed after {received_end} of {expected_end} bytes")


def _is_client_error(error: Exception) -> bool:
    """A 4xx answer (but 'timeout', 'range not satisfiable', 'too many requests'): final."""
    return (
        isinstance(error, urllib.error.HTTPError)
        and 400 <= error.code < 500
        and error.code not in (408, 416, 429)
    )
