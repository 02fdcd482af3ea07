"""Stage outputs used only as DVC recorded them: one check for every reader.

A file or folder that one stage writes and a later stage or the CLI reads (the splits file
and image list, the vocabulary, the mixture, the feature files, the CCA model, the raw
folder's manifest) is read only if its content is the one `dvc.lock` records for it: the
file's MD5, a folder's `.dir` hash (computed as DVC does: the MD5 of the sorted JSON list
of its files' MD5s and relative paths), or, for a file inside a recorded folder, the MD5
the folder's `.dir` object in DVC's cache lists for it. DVC itself trusts the size and date
it recorded: a file edited by hand with both kept passes `dvc status`, and `dvc repro`
would record new results of unchanged inputs. Here it is refused, in one line, with the
command that restores it (`dvc checkout --relink <path>`) or, where DVC's cached copy is
damaged too (a hardlinked output edited in place shares its inode with the cache, so
`dvc checkout` would bring the damage back), the one that removes that copy and recomputes
it (`rm <cache object> && dvc repro -f <stage>`).

The record is the dvc.lock of the project the path lies in (`tie.config.lock.lock_above`,
the one reader of dvc.lock), whether the path is relative or absolute. Nothing is checked
where no record applies: no project or no `dvc.lock` above the path (the library used on
its own, an MLflow model loaded elsewhere), or an output the lock does not list yet (the
first run of a stage).
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tie.config.lock import lock_above
from tie.errors import TieError

CACHE_DIR = Path(".dvc/cache/files/md5")  # DVC 3's default cache of md5 objects


def recorded_md5(path: Path) -> tuple[str, str] | None:
    """(stage, MD5) that dvc.lock records for output `path`, or None if it records none.

    A folder's MD5 ends in `.dir`.
    """
    found, relative = _recorded_outs(path)
    return next(((stage, md5) for stage, out, md5 in found if Path(out) == relative), None)


def check_recorded(path: Path) -> None:
    """Refuse `path` (a file or folder) unlike what `dvc.lock` records for it, or for the
    recorded folder it is in."""
    path = Path(path)
    found, relative = _recorded_outs(path)
    for stage, out, md5 in found:
        if Path(out) == relative:
            actual = content_md5(path) if path.exists() else "missing"
            expected = md5
        else:  # a file inside the recorded folder `out`
            expected = _member_md5(md5, relative.relative_to(out).as_posix())
            if expected is None:
                continue  # DVC's cache does not have the folder's list: nothing to compare
            actual = file_md5(path) if path.is_file() else "missing"
        if actual != expected:
            raise TieError(
                f"{path} is not what dvc.lock records (MD5 {actual}, recorded {expected}),"
                f" although `dvc status` may not see it: {_advice(out, stage, md5)}"
            )


def _advice(out: str, stage: str, md5: str) -> str:
    """How to get output `out` (recorded `md5`) back: from DVC's cache, or, where the cached
    copy is damaged too, by removing that copy and recomputing."""
    objects = [md5]
    if md5.endswith(".dir"):
        listing = _listing(md5) or []
        objects = [e["md5"] for e in listing if isinstance(e.get("md5"), str)]
    damaged = [_object(o) for o in objects if _object(o).is_file() and file_md5(_object(o)) != o]
    if damaged:
        copies = " ".join(str(d) for d in damaged[:3])
        more = f" (and {len(damaged) - 3} more)" if len(damaged) > 3 else ""
        return (
            f"DVC's cached copy is damaged too ({copies}{more}): remove it and recompute,"
            f" `rm {copies} && dvc repro -f {stage}`"
        )
    return (
        f"restore it with `dvc checkout --relink {out}`, or recompute it with"
        f" `dvc repro -f {stage}`"
    )


def _object(md5: str) -> Path:
    return CACHE_DIR / md5[:2] / md5[2:]


DAMAGED = (ValueError, KeyError, IndexError, TypeError, EOFError, zipfile.BadZipFile)


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Read stage output `path` inside this: a file that does not parse (a damaged `.npz`,
    JSON cut short, a missing key) becomes one line naming it and how to get it back."""
    try:
        yield
    except DAMAGED as error:
        reason = str(error).strip().splitlines()[0] if str(error).strip() else ""
        reason = f"{type(error).__name__}: {reason}" if reason else type(error).__name__
        found, _ = _recorded_outs(Path(path))
        if found:
            stage, out, md5 = found[0]
            advice = _advice(out, stage, md5)
        else:
            advice = "re-run the stage that writes it (`dvc repro -f <stage>`)"
        raise TieError(f"{path} is damaged or not the expected file ({reason}): {advice}") from None


def content_md5(path: Path) -> str:
    """The MD5 DVC gives `path`: a file's, or a folder's `<md5>.dir`."""
    path = Path(path)
    if not path.is_dir():
        return file_md5(path)
    entries = [
        {"md5": file_md5(Path(top) / name), "relpath": (Path(top) / name).relative_to(path)}
        for top, _, files in os.walk(path)
        for name in files
    ]
    listing = sorted(
        ({"md5": e["md5"], "relpath": e["relpath"].as_posix()} for e in entries),
        key=lambda e: e["relpath"],
    )
    return hashlib.md5(json.dumps(listing, sort_keys=True).encode("utf-8")).hexdigest() + ".dir"


def file_md5(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "md5").hexdigest()


def _recorded_outs(path: Path) -> tuple[list[tuple[str, str, str]], Path | None]:
    """(stage, out path, MD5) of the recorded outputs `path` is or is inside of, and `path`
    relative to the project's folder (the out paths are too)."""
    found_lock = lock_above(Path(path))
    if found_lock is None:
        return [], None
    lock, relative = found_lock
    found = []
    for stage, record in lock.stages.items():
        for out in record.get("outs") or []:
            out_path = Path(str(out.get("path", "")))
            if "md5" in out and (out_path == relative or out_path in relative.parents):
                found.append((stage, str(out_path), str(out["md5"])))
    return found, relative


def _listing(folder_md5: str) -> list[dict] | None:
    """The `.dir` object `folder_md5` of DVC's cache: [{"md5", "relpath"}, ...], or None."""
    try:
        listing = json.loads(_object(folder_md5).read_text())
    except (OSError, ValueError):
        return None
    return [e for e in listing if isinstance(e, dict)] if isinstance(listing, list) else None


def _member_md5(folder_md5: str, relpath: str) -> str | None:
    """The MD5 that the `.dir` object `folder_md5` in DVC's cache lists for `relpath`."""
    listing = _listing(folder_md5) or []
    return next((e.get("md5") for e in listing if e.get("relpath") == relpath), None)
