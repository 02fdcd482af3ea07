"""Accepting your own copy of a dataset archive whose bytes differ from the published ones.

Mirrors re-pack archives all the time: same images, other bytes, another checksum. With
`tie data fetch <dataset> --accept-local` such a copy (placed by hand in the downloads
folder, or fetched from `TIE_DOWNLOAD_MIRROR`) is checked by its content instead of its
bytes: every archive reads to its end, the image archives hold every expected image (a
readable one), and the chosen split's caption file parses into the dataset's number of
images, each with its file. Then the copy's sha256 is recorded in
`<downloads>/accepted-checksums.json` (git-ignored, beside the archives), and later runs
check the file against it (see `tie.download`); a change of the published checksum in
sources.py voids the acceptance.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path

from tie.datasets.real import needed_archives, prepare_real_dataset
from tie.datasets.sources import DatasetSources
from tie.download import (
    ACCEPTED_FILE,
    archive_problem,
    fetch,
    record_accepted,
    verification_problem,
    with_accepted_checksum,
)
from tie.errors import TieError


def accept_local_copy(
    name: str, sources: DatasetSources, downloads_dir: Path, split: str
) -> list[str]:
    """Check and accept the archives of `name` in `downloads_dir` that fail their published
    checksum; return one line per archive saying what was found and done."""
    downloads_dir = Path(downloads_dir)
    needed = needed_archives(sources, (split,))
    remotes = [remote for remote in sources.downloads if remote.name in needed]
    differing = {}
    for remote in remotes:
        path = downloads_dir / remote.name
        if path.is_file():
            damage = archive_problem(path, remote.name)
            if damage:
                raise TieError(f"{path} cannot be accepted: {damage}. Replace it with a good copy")
        else:  # from the mirror (or the original URL): any copy that reads to its end
            fetch(replace(remote, checksum=None, size=None), downloads_dir)
        problem = verification_problem(path, with_accepted_checksum(remote, downloads_dir))
        if problem:
            differing[remote.name] = problem
    if not differing:
        return [f"{remote.name}: the published file, nothing to accept" for remote in remotes]

    lines = [_check_content(name, sources, downloads_dir, split, set(differing))]
    for remote in remotes:
        if remote.name not in differing:
            lines.append(f"{remote.name}: the published file")
            continue
        checksum = record_accepted(remote, downloads_dir / remote.name)
        lines.append(
            f"{remote.name}: the published checksum did not match ({differing[remote.name]}); "
            f"its content checked, your copy is accepted as {checksum}, recorded in "
            f"{downloads_dir / ACCEPTED_FILE}"
        )
    return lines


def _check_content(
    name: str, sources: DatasetSources, downloads_dir: Path, split: str, differing: set[str]
) -> None:
    """Extract and read the dataset from the archives as they are, as the pipeline would;
    fail unless every expected image is there and the split has its number of images."""
    unchecked = replace(
        sources,
        downloads=tuple(
            replace(r, checksum=None, size=None) if r.name in differing else r
            for r in sources.downloads
        ),
    )
    from tie.datasets.kinds import read_published

    with tempfile.TemporaryDirectory(dir=downloads_dir, prefix=".accept-") as tmp:
        raw = Path(tmp) / name
        try:
            prepare_real_dataset(name, unchecked, raw, downloads_dir, 0.0, (split,))
            corpus = read_published(name, raw, split)
        except (TieError, FileNotFoundError, ValueError, KeyError) as error:
            raise TieError(f"your copy of {name} cannot be accepted: {error}") from None
    expected = sources.split_images[split]
    if len(corpus.images) != expected:
        raise TieError(
            f"your copy of {name} cannot be accepted: its {split} caption file gives "
            f"{len(corpus.images)} images with files and captions, expected {expected}"
        )
    n_captions = sum(len(captions) for captions in corpus.captions)
    return (
        f"{name}: the archives read to their end and hold the {sources.n_images} expected"
        f" images, each readable; the {split} split's caption file gives {len(corpus.images)}"
        f" images, each with its file ({n_captions} captions), as expected"
    )
