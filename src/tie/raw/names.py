"""Image names: the one check that a name read from a captions file, an index or a shard
stays inside its images folder. Every reader calls it; a bad name is dropped and reported.

A name is a relative POSIX path (`photo.jpg`, `2024/photo.jpg`). Refused: an absolute path,
a `..` part, and characters that cannot survive the one-name-a-line image list (line
breaks of any kind, other control characters). `inside` joins a good name to its folder;
nothing outside the folder is ever opened through a name.

A name is compared exactly as written: surrounding spaces are part of it (`cat.png ` and
`cat.png` are two files), and so is its Unicode normal form (`café` in NFC and in NFD are
two names to the file system). Where a name has no file but differs only so from one,
`missing_name` says which file it may have meant, so the report points at the fix.
"""

from __future__ import annotations

import os
import stat
import sys
import unicodedata
from pathlib import Path, PurePosixPath


def name_problem(name: object) -> str | None:
    """Why `name` is not a path inside an images folder, or None if it is one."""
    if not isinstance(name, str) or not name:
        return "no image name"
    if any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in name):
        return "a line break or control character in the name (one image name a line)"
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts:
        return "not a path inside the images folder (absolute, or with a `..` part)"
    return None


def inside(folder: Path, name: str) -> Path | None:
    """`folder / name` if `name` is a path inside `folder` (see `name_problem`), else None."""
    return None if name_problem(name) else Path(folder) / name


def through_link(folder: Path, name: str) -> bool:
    """Whether `folder / name` passes through a symbolic link below `folder` (or is one)."""
    path = Path(folder)
    for part in PurePosixPath(name).parts:
        path = path / part
        if path.is_symlink():
            return True
    return False


def folder_problem(folder: Path) -> tuple[Path, str] | None:
    """(path, what it is) of the first entry below `folder` that DVC, hashing the folder as a
    dep, must not read: a FIFO, socket or device file (or a link to one: DVC follows links),
    or a folder on another file system (`/proc` under `/`: the walk stops there, so the file
    system is never walked). None if there is none. Only names and types are read."""
    device = os.stat(folder).st_dev
    for top, folders, files in os.walk(folder):
        for name in folders + files:
            path = os.path.join(top, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISLNK(mode):
                try:
                    mode = os.stat(path).st_mode
                except OSError:  # a dangling link: nothing to read
                    continue
                if stat.S_ISDIR(mode):
                    continue  # os.walk does not follow it; the data stage does not copy it
            if stat.S_ISDIR(mode) and os.lstat(path).st_dev != device:
                folders.clear()
                return Path(path), "a folder on another file system (a mount point)"
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
                return Path(path), "not a regular file (a FIFO, socket or device, or a link to one)"
    return None


def unencodable_name(folder: Path) -> str | None:
    """The first path below `folder` whose name DVC cannot write as UTF-8 (its dep hashes
    and `.dir` listings are UTF-8 JSON), as printable ASCII (`photos/caf\\xc3\\xa9.png`);
    None if every name can be. Such a name is one whose bytes this process cannot decode:
    any non-ASCII name under an ASCII locale (`LC_ALL=C` with `PYTHONUTF8=0`: the file system
    encoding is then ascii), or bytes that are not UTF-8 under any locale. DVC then stops
    with `surrogates not allowed`, naming no file. Only names are read."""
    for top, folders, files in os.walk(folder):
        for name in sorted(folders + files):
            try:
                name.encode("utf-8")
            except UnicodeEncodeError:
                return str(os.fsencode(os.path.join(top, name)))[2:-1]
    return None


def name_encoding_advice() -> str:
    """What to do about `unencodable_name`'s name, for this process's locale."""
    encoding = sys.getfilesystemencoding()
    if encoding.lower().replace("-", "") == "utf8":
        return "its bytes are not UTF-8: rename it (e.g. `convmv -f latin1 -t utf8`)"
    return (
        f"this locale decodes file names as {encoding}, not UTF-8: set LC_ALL=C.UTF-8 (or"
        " PYTHONUTF8=1) for tie and DVC, then run again"
    )


def path_problem(path: Path, want: str) -> str | None:
    """Why `path`, which must be a `want` ("file" or "folder"), is not one, without reading
    it (a FIFO or a device, a link to one, a folder for a file, a file for a folder); None
    if it is one or does not exist."""
    try:
        mode = os.stat(path).st_mode  # follows links, never opens
    except FileNotFoundError:
        return None
    if stat.S_ISDIR(mode):
        return "is a folder, not a file" if want == "file" else None
    if stat.S_ISREG(mode):
        return "is a file, not a folder" if want == "folder" else None
    return "is not a regular file or folder (a FIFO, socket or device, or a link to one)"


class MissingNames:
    """`missing(name)`: `name` for a report of missing files, as is, or quoted with the file of
    `folder` whose name differs from it only by surrounding spaces or Unicode normal form.

    The folder's names are listed once, at the first missing name (names only, no content).
    """

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self._by_key: dict[str, list[str]] | None = None

    def __call__(self, name: str) -> str:
        if not isinstance(name, str):
            return str(name)
        if self._by_key is None:
            self._by_key = {}
            if self.folder.is_dir():
                for path in sorted(self.folder.rglob("*")):
                    if path.is_file():
                        relative = path.relative_to(self.folder).as_posix()
                        self._by_key.setdefault(_loose(relative), []).append(relative)
        near = [other for other in self._by_key.get(_loose(name), []) if other != name]
        if not near:
            return name
        other = near[0]
        if unicodedata.normalize("NFC", other) == unicodedata.normalize("NFC", name):
            form = "NFC" if unicodedata.is_normalized("NFC", other) else "NFD"
            how = f"in Unicode {form}"
        elif _stripped(other) == _stripped(name):
            how = "with other surrounding spaces"
        else:
            how = "with other surrounding spaces and Unicode normal form"
        return (
            f"{name!r} (no such file; {other!r}, the same name {how}, is one: names are"
            " compared exactly as written, write it as the file has it)"
        )


def _loose(name: str) -> str:
    """`name` with its spaces around each part and its Unicode normal form forgotten."""
    return _stripped(unicodedata.normalize("NFC", name))


def _stripped(name: str) -> str:
    return "/".join(part.strip() for part in PurePosixPath(name).parts)
