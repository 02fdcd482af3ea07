"""Image names: the one check that a name read from a captions file, an index or a shard
stays inside its images folder. Every reader calls it; a bad name is dropped and reported.

A name is a relative POSIX path (`photo.jpg`, `2024/photo.jpg`). Refused: an absolute path,
a `..` part, and characters that cannot survive the one-name-a-line image list (line
breaks of any kind, other control characters). `inside` joins a good name to its folder;
nothing outside the folder is ever opened through a name.
"""

from __future__ import annotations

import os
import stat
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


def special_file(folder: Path) -> Path | None:
    """The first FIFO, socket or device file below `folder` (links not followed), or None.

    DVC hashes every file of a folder it depends on by reading it: opening a FIFO waits
    for a writer forever (`dvc status` hangs, with no message), so `tie check` looks for
    one first. Only names and types are read, never a file's content.
    """
    for top, folders, files in os.walk(folder):
        for name in files + folders:
            mode = os.lstat(os.path.join(top, name)).st_mode
            if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode)):
                return Path(top) / name
    return None
