"""Fetching a file over HTTP(S): resumable, retried, verified, moved into place only when good.

`fetch` streams into `<name>.part` beside the destination. After an interruption it asks the
server for the rest only (an HTTP Range request) and appends; a server that ignores Range
sends the whole file again, which then replaces the partial one. Size and checksum are
checked before the `.part` file is renamed to its final name, so a file under its final name
is always complete. A file with no published checksum needs a known size (the server's
Content-Length, or `RemoteFile.size`) and, as an archive, must open and read through to its
end (every zip member's CRC, every tar or gzip byte). A file already in place and valid is
not fetched again; one with no checksum that fails these checks is damaged (a transfer cut
short by an older version, say) and is fetched again. A file in place that fails its
published checksum is never deleted (the user may have put it there by hand): the error
names it and says what to do (`tie data fetch <dataset> --accept-local` for a dataset).

Only what can succeed on a retry is retried: timeouts, connections reset or cut short,
server errors (5xx, 408, 429). A host name that does not resolve, a refused connection and
a client error (4xx) fail at once. Every final error names `TIE_DOWNLOAD_MIRROR` and the
path where the file can be placed by hand.

`TIE_DOWNLOAD_MIRROR` (or `mirror=`) points every file at another server: the file named
`<name>` is then fetched from `<mirror>/<name>`. A checksum accepted for a local copy
(see `tie.datasets.accept`) is recorded in `<dest_dir>/accepted-checksums.json` and
replaces the published one for that file.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import json
import os
import shutil
import socket
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
import zlib
from dataclasses import dataclass, replace
from http.client import HTTPException
from pathlib import Path

from tqdm import tqdm

from tie.errors import TieError
from tie.redact import redact

MIRROR_ENV = "TIE_DOWNLOAD_MIRROR"
CHECKSUM_ALGORITHMS = ("md5", "sha256")
ATTEMPTS = 5  # tries per file; each after an interruption resumes where the last stopped
BACKOFF_S = 2.0  # wait before the second try; doubled before each further one
TIMEOUT_S = 60.0  # a connection silent this long counts as interrupted
CHUNK_BYTES = 1 << 20
USER_AGENT = "tie-downloader/1"
ACCEPTED_FILE = "accepted-checksums.json"


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

    Raises TieError when the file cannot be fetched (after `attempts` tries for what a retry
    can fix, at once otherwise), or when a file fails its size, checksum or archive check.
    """
    dest_dir = Path(dest_dir)
    remote = with_accepted_checksum(remote, dest_dir)
    dest = dest_dir / remote.name
    if dest.exists():
        problem = verification_problem(dest, remote)
        if problem is None:
            return dest
        if remote.checksum is not None:
            raise TieError(
                f"{dest} is already there but is not the expected file: {problem}. It was left "
                "untouched; if it is your own copy of a dataset archive, `tie data fetch "
                "<dataset> --accept-local` checks its content and accepts it; otherwise delete "
                "it to download it again"
            )
        tqdm.write(f"{dest} is damaged ({problem}): fetching it again")
        dest.unlink()

    dest_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    url = source_url(remote, mirror)
    shown = redact(url)
    for attempt in range(1, attempts + 1):
        try:
            _download_to(url, part, remote)
            break
        except (urllib.error.URLError, HTTPException, OSError) as error:
            if getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT):
                part.unlink(missing_ok=True)  # a part that filled the disk blocks all else
                raise TieError(
                    f"the disk of {dest_dir} filled up while downloading {remote.name}; the"
                    f" partial file was removed: free some space there (`df -h {dest_dir}`),"
                    " then run again"
                ) from None
            reason = _describe(error)
            if not _worth_retrying(error):
                raise TieError(
                    f"cannot download {remote.name} from {shown}: {reason}. {_elsewhere(dest)}"
                ) from None
            if attempt == attempts:
                received = part.stat().st_size if part.exists() else 0
                raise TieError(
                    f"download of {remote.name} from {shown} failed {attempts} times, last "
                    f"with: {reason}. Run the same command again to resume from {received} "
                    f"bytes. {_elsewhere(dest)}"
                ) from None
            wait = backoff_s * 2 ** (attempt - 1)
            tqdm.write(f"{remote.name}: {reason}; retrying in {wait:g} s ({attempt}/{attempts})")
            time.sleep(wait)

    problem = verification_problem(part, remote)
    if problem:
        part.unlink()
        raise TieError(
            f"the download of {remote.name} from {shown} is not the expected file: {problem}. "
            f"The bad download was discarded; try again. {_elsewhere(dest)}"
        )
    part.replace(dest)
    return dest


def _elsewhere(dest: Path) -> str:
    """Where else the file can come from: a mirror, or the user's hands."""
    return (
        f"To get it elsewhere, set {MIRROR_ENV}=<url> to a server that has it (fetched from "
        f"<url>/{dest.name}), or put the file by hand at {dest}, then run again"
    )


def with_accepted_checksum(remote: RemoteFile, dest_dir: Path) -> RemoteFile:
    """`remote`, checked against the checksum accepted for a local copy of it, if any.

    An acceptance is for one published checksum: when sources.py changes it, it lapses.
    """
    record = Path(dest_dir) / ACCEPTED_FILE
    if not record.is_file():
        return remote
    accepted = json.loads(record.read_text()).get(remote.name)
    if accepted is None or accepted.get("published") != remote.checksum:
        return remote
    return replace(remote, checksum=accepted["checksum"], size=accepted["size"])


def record_accepted(remote: RemoteFile, path: Path) -> str:
    """Record `path`'s sha256 as the accepted checksum of `remote` beside it; return it."""
    checksum = "sha256:" + file_digest(path, "sha256")
    record = path.parent / ACCEPTED_FILE
    accepted = json.loads(record.read_text()) if record.is_file() else {}
    accepted[remote.name] = {
        "checksum": checksum,
        "size": path.stat().st_size,
        "published": remote.checksum,
    }
    record.write_text(json.dumps(accepted, indent=1, sort_keys=True) + "\n")
    return checksum


def verification_problem(path: Path, remote: RemoteFile) -> str | None:
    """What is wrong with `path` as a copy of `remote`, or None.

    The size, then the checksum; with no checksum, that the archive reads to its end.
    """
    size = path.stat().st_size
    if remote.size is not None and size != remote.size:
        return f"its size is {size} bytes, expected {remote.size}"
    if remote.checksum is not None:
        algorithm, _, expected = remote.checksum.partition(":")
        actual = file_digest(path, algorithm)
        if actual != expected.lower():
            return f"its {algorithm} is {actual}, expected {expected.lower()}"
        return None
    return archive_problem(path, remote.name)


def archive_problem(path: Path, name: str) -> str | None:
    """Why the archive `path` does not read to its end, its kind told by `name` (.zip,
    .tar[.gz|.bz2|.xz], .tgz, .gz), or None.

    A zip's members are all read and their CRCs checked; a tar or gzip file is read whole.
    Other kinds of file are not checked.
    """
    name = name.lower()
    try:
        if name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                bad = archive.testzip()
            return f"member {bad} of the zip archive fails its CRC check" if bad else None
        if name.endswith((".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tar.xz")):
            with tarfile.open(path, "r:*") as archive:
                for member in archive:
                    if member.isfile():
                        with archive.extractfile(member) as stream:
                            while stream.read(CHUNK_BYTES):
                                pass
            return None
        if name.endswith(".gz"):
            with gzip.open(path, "rb") as stream:
                while stream.read(CHUNK_BYTES):
                    pass
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, OSError) as error:
        return f"the archive does not read to its end ({type(error).__name__}: {error})"
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
        if expected_end is None and remote.checksum is None:
            raise TieError(
                f"{redact(url)} sent no Content-Length and no size of {remote.name} is recorded "
                "(tie/datasets/sources.py), and it has no published checksum: a complete copy "
                f"could not be told from one cut short. {_elsewhere(part.with_suffix(''))}"
            )
        if expected_end is not None:
            _check_free_space(part, expected_end - offset, remote.name)
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


def _check_free_space(part: Path, needed: int, name: str) -> None:
    """Refuse, before writing a byte, a download the disk of `part` cannot hold."""
    free = shutil.disk_usage(part.parent).free
    if needed > free:
        raise TieError(
            f"{name} needs {needed:,} bytes more and {part.parent} has {free:,} free: free"
            f" some space there (`df -h {part.parent}`), then run again"
        )


def _worth_retrying(error: Exception) -> bool:
    """Whether a retry can succeed: a timeout, a connection reset or cut short, a 5xx answer
    (or 408, 416 after a stale Range, 429). Not: a host name that does not resolve, a refused
    connection, a certificate problem, a client error (4xx), a local disk error."""
    if isinstance(error, urllib.error.HTTPError):
        return error.code >= 500 or error.code in (408, 416, 429)
    if isinstance(error, urllib.error.URLError):
        error = error.reason if isinstance(error.reason, Exception) else error
    if isinstance(error, HTTPException):  # e.g. IncompleteRead, RemoteDisconnected
        return True
    if isinstance(error, ConnectionRefusedError):
        return False
    return isinstance(error, (TimeoutError, socket.timeout, ConnectionError))


def _describe(error: Exception) -> str:
    """The error in words, one line: what the user can act on."""
    reason = error.reason if isinstance(error, urllib.error.URLError) else error
    if isinstance(error, urllib.error.HTTPError):
        return f"HTTP {error.code} {error.reason}"
    if isinstance(reason, socket.gaierror):
        return f"the host name does not resolve ({reason.strerror}): no network, or a wrong URL"
    text = str(reason).strip().splitlines()[0] if str(reason).strip() else ""
    return redact(f"{type(reason).__name__}: {text}" if text else type(reason).__name__)
