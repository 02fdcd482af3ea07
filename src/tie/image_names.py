"""Image names: the one check that a name read from a captions file, an index or a shard
stays inside its images folder. Every reader calls it; a bad name is dropped and reported.

A name is a relative POSIX path (`photo.jpg`, `2024/photo.jpg`). Refused: an absolute path,
a `..` part, and characters that cannot survive the one-name-a-line image list (line
breaks of any kind, other control characters). `inside` joins a good name to its folder;
nothing outside the folder is ever opened through a name.
"""

from __future__ import annotations

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
