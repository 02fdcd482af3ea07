"""The manifest of a raw dataset folder: every file's name, size and MD5, written by `data`.

The stages that need the folder's list of files and a fingerprint of their contents, not
the files themselves (`splits`, which reads the caption files, and `evaluate`, whose
gallery shows a few images), declare this one file as their DVC dep instead of the
folder. DVC then walks the images folder (123,287 files for COCO) for the `data` stage's
output and `image_features` only, not for every stage at every `dvc status`, `dvc repro`
and experiment. Any added, removed or changed file of the folder changes the manifest,
so those stages re-run exactly when the folder's content changes.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tie.raw.layout import MANIFEST_NAME  # in the raw folder; not listed in itself


def folder_entries(folder: Path) -> list[tuple[str, int, str]]:
    """(path relative to `folder`, size in bytes, MD5) of every file below it, by path."""
    folder = Path(folder)
    files = (p for p in folder.rglob("*") if p.is_file() and p != folder / MANIFEST_NAME)
    entries = []
    for path in sorted(files, key=lambda p: p.relative_to(folder).as_posix()):
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "md5").hexdigest()
        entries.append((path.relative_to(folder).as_posix(), path.stat().st_size, digest))
    return entries


def write_manifest(folder: Path) -> Path:
    """Write `folder`/manifest.json: one `[name, size, md5]` line per file; its path."""
    entries = folder_entries(folder)
    lines = ",\n".join(json.dumps(list(entry)) for entry in entries)
    manifest = Path(folder) / MANIFEST_NAME
    manifest.write_text(f'{{"files": [\n{lines}\n]}}\n' if entries else '{"files": []}\n')
    return manifest
