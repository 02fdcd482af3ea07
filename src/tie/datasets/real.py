"""Real datasets (flickr8k, flickr30k, coco): fetch their archives, extract and check them.

Archives are kept in a downloads folder outside the pipeline's outputs (DVC deletes a
stage's outputs before it runs again), so a second run finds them and fetches nothing.
Everything is located inside an archive by file name, never by an assumed path.

Only the archives the chosen split needs are fetched: the images, plus Flickr8k's own text
archive for `official`, or Karpathy's `caption_datasets.zip` for `karpathy`.

The raw folder of a real dataset, written by `prepare_real_dataset`:
    images/                    every image, flat (names are unique in each dataset)
    karpathy.json              the dataset's Karpathy split file (split karpathy)
    Flickr8k.token.txt, Flickr_8k.{train,dev,test}Images.txt   (flickr8k, split official)
    extraction_report.json     how many images were expected, found, missing, unreadable
"""

from __future__ import annotations

import json
import shutil
import tarfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from PIL import Image

from tie.datasets.sources import (
    FLICKR8K_TEXT,
    FLICKR30K_REQUEST_URL,
    KARPATHY_SPLITS,
    DatasetSources,
)
from tie.download import fetch
from tie.errors import TieError
from tie.progress import progress
from tie.raw.layout import FLICKR8K_TEXT_FILES, KARPATHY_FILE
from tie.raw.layout import image_dir as images_folder

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
REPORT_FILE = "extraction_report.json"
JPEG_END_MARKER = b"\xff\xd9"
JPEG_TAIL_BYTES = 1024  # some JPEGs carry a few bytes after their end marker


def needed_archives(sources: DatasetSources, splits: tuple[str, ...] | None) -> set[str]:
    """The archives that hold the images and the caption files of `splits` (None: all)."""
    splits = tuple(sources.split_archives) if splits is None else splits
    return {*sources.image_archives, *(a for s in splits for a in sources.split_archives[s])}


def obtain_archives(
    name: str, sources: DatasetSources, downloads_dir: Path, splits: tuple[str, ...] | None = None
) -> dict[str, Path]:
    """Fetch the downloadable archives `splits` need (None: every split's), find the manual
    ones; archive name -> path."""
    downloads_dir = Path(downloads_dir)
    needed = needed_archives(sources, splits)
    for archive in sources.manual_archives:
        if not (downloads_dir / archive).is_file():
            raise TieError(
                f"{(downloads_dir / archive).resolve()} not found: the {name} images cannot be "
                f"downloaded automatically, their terms of use require a request form. Request "
                f"them at {FLICKR30K_REQUEST_URL}, then put the archive {archive} at that path "
                "and run again (see docs/datasets.md)"
            )
    paths = {archive: downloads_dir / archive for archive in sources.manual_archives}
    for remote in sources.downloads:
        if remote.name in needed:
            paths[remote.name] = fetch(remote, downloads_dir)
    return paths


def prepare_real_dataset(
    name: str,
    sources: DatasetSources,
    raw_dir: Path,
    downloads_dir: Path,
    max_missing_fraction: float,
    splits: tuple[str, ...] | None = None,
) -> dict:
    """Fetch, extract and check dataset `name` into `raw_dir`; return the extraction report.

    Only the caption files of `splits` are fetched and extracted (None: every split's).
    Raises TieError when more than `max_missing_fraction` of the expected images are missing
    or unreadable (they are listed in `raw_dir/extraction_report.json` either way).
    """
    raw_dir = Path(raw_dir)
    splits = tuple(sources.split_archives) if splits is None else splits
    archives = obtain_archives(name, sources, downloads_dir, splits)
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    image_dir = images_folder(raw_dir)
    image_dir.mkdir(parents=True)

    if "karpathy" in splits:
        karpathy_json = {sources.karpathy_json: raw_dir / KARPATHY_FILE}
        _extract_named(archives[KARPATHY_SPLITS.name], karpathy_json)
    if "official" in splits and FLICKR8K_TEXT.name in sources.split_archives.get("official", ()):
        text_files = {f: raw_dir / f for f in FLICKR8K_TEXT_FILES.values()}
        _extract_named(archives[FLICKR8K_TEXT.name], text_files)

    in_archives, duplicates, unreadable = 0, [], []
    for archive in sources.image_archives:
        with _open_archive(archives[archive]) as members:
            for member_name, read in progress(members, desc=f"extracting {archive}", unit="file"):
                if not is_image_member(member_name):
                    continue
                in_archives += 1
                image = PurePosixPath(member_name).name
                target = image_dir / image
                if target.exists():
                    duplicates.append(member_name)
                    continue
                with read() as stream, target.open("wb") as out:
                    shutil.copyfileobj(stream, out)
    for target in progress(sorted(image_dir.iterdir()), desc="checking images", unit="img"):
        problem = image_problem(target)
        if problem:
            unreadable.append(f"{target.name}: {problem}")
            target.unlink()  # a damaged image we extracted; the reader sees it as missing

    found = sum(1 for _ in image_dir.iterdir())
    missing = max(sources.n_images - found, 0)
    report = {
        "dataset": name,
        "expected_images": sources.n_images,
        "images_in_archives": in_archives,
        "images_extracted": found,
        "missing_or_unreadable": missing,
        "unreadable": unreadable,
        "duplicate_names_skipped": duplicates,
    }
    (raw_dir / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n")
    if missing > max_missing_fraction * sources.n_images:
        raise TieError(
            f"{name}: {missing} of {sources.n_images} expected images are missing or unreadable "
            f"(more than raw.max_missing_fraction = {max_missing_fraction}); see "
            f"{raw_dir / REPORT_FILE}. Check the archives in {downloads_dir} (delete a bad one "
            "to download it again)"
        )
    return report


def is_image_member(member_name: str) -> bool:
    """An image file of an archive; not macOS metadata (`__MACOSX/`, `._name`) nor a folder."""
    path = PurePosixPath(member_name)
    return (
        path.suffix.lower() in IMAGE_SUFFIXES
        and "__MACOSX" not in path.parts
        and not path.name.startswith(".")
    )


def image_problem(path: Path) -> str | None:
    """Why `path` is not a readable image (empty, not an image, truncated), or None."""
    size = path.stat().st_size
    if size == 0:
        return "empty file"
    try:
        with Image.open(path) as image:
            image_format = image.format
            image.verify()
    except Exception as error:  # PIL raises many kinds for a damaged file
        return f"not a readable image ({type(error).__name__}: {error})"
    if image_format == "JPEG":
        with path.open("rb") as stream:
            stream.seek(max(size - JPEG_TAIL_BYTES, 0))
            if JPEG_END_MARKER not in stream.read():
                return "truncated JPEG (no end marker)"
    return None


def _extract_named(archive: Path, targets: dict[str, Path]) -> None:
    """Write the members of `archive` named (by file name, in any folder) like `targets`' keys."""
    wanted = dict(targets)
    with _open_archive(archive) as members:
        for member_name, read in members:
            path = PurePosixPath(member_name)
            if path.name in wanted and "__MACOSX" not in path.parts:
                with read() as stream, wanted.pop(path.name).open("wb") as out:
                    shutil.copyfileobj(stream, out)
    if wanted:
        raise TieError(
            f"{archive} holds no file named {', '.join(sorted(wanted))}: it is not the expected "
            "archive; delete it to download it again"
        )


@contextmanager
def _open_archive(path: Path) -> Iterator[Iterator[tuple[str, callable]]]:
    """(member name, opener of its bytes) for every file of a zip or tar archive, in order."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                yield [  # a list, so that progress bars know the total
                    (info.filename, lambda info=info: archive.open(info))
                    for info in archive.infolist()
                    if not info.is_dir()
                ]
        else:
            with tarfile.open(path, "r:*") as archive:
                yield (
                    (member.name, lambda member=member: _tar_member(archive, member))
                    for member in archive
                    if member.isfile()
                )
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error) as error:
        raise TieError(
            f"cannot read archive {path}: {error}. It is damaged or not a zip/tar archive; "
            "replace it (or delete it to download it again)"
        ) from error


def _tar_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes]:
    stream = archive.extractfile(member)
    if stream is None:
        raise tarfile.ReadError(f"cannot read member {member.name}")
    return stream
