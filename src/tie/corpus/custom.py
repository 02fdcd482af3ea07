"""Reading a custom dataset's raw folder (the data stage's copy) into a `Corpus`.

The captions file's format is `tie.raw.captions_file`'s; its split is the file's split
column where it has one, else a seeded hash of each image name (`custom.split_seed`).
"""

from __future__ import annotations

import json
from pathlib import Path

from tie.config.registry import SPLITS
from tie.corpus.corpus import Corpus
from tie.corpus.flickr8k import Problems
from tie.errors import TieError, shorten
from tie.raw.captions_file import (
    CAPTION_FORMATS,
    CAPTIONS_STEM,
    check_splits_given,
    given_split,
    hash_split,
    read_caption_rows,
)
from tie.raw.layout import image_dir as images_folder
from tie.raw.names import MissingNames, name_problem
from tie.recorded import check_recorded

DATA_REPORT = "extraction_report.json"  # the data stage's (tie.datasets.real.REPORT_FILE)


def _unreadable_images(raw_dir: Path) -> set[str]:
    """The images the data stage left out as unreadable (its report's `name: problem`)."""
    report = raw_dir / DATA_REPORT
    if not report.is_file():
        return set()
    entries = json.loads(report.read_text()).get("unreadable", [])
    return {entry.split(": ", 1)[0] for entry in entries}


def read_custom(
    raw_dir: Path,
    *,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    same_picture: str = "one_split",
    digests: dict[str, str] | None = None,
) -> Corpus:
    """The corpus of the custom dataset in `raw_dir`, bad rows dropped and reported.

    `digests` ({image: MD5 of its bytes}, the data stage's manifest) find the pictures
    stored under several names; with `same_picture: one_split`, those without a split
    column's split take the split of the first of them by name, so that no picture is in
    train and test both (`by_name`: each name hashed on its own).
    """
    raw_dir = Path(raw_dir)
    found = [p for p in raw_dir.glob(f"{CAPTIONS_STEM}.*") if p.suffix.lower() in CAPTION_FORMATS]
    if len(found) != 1:
        raise FileNotFoundError(f"no captions file in {raw_dir}: run the data stage again")
    check_recorded(found[0])
    rows, n_rows = read_caption_rows(found[0])
    image_dir = images_folder(raw_dir)
    unreadable = _unreadable_images(raw_dir)
    problems = Problems()
    missing = MissingNames(image_dir)
    captions: dict[str, list[str]] = {}
    given_split_of: dict[str, str] = {}
    for number, image, caption, split in rows:
        problem = name_problem(image)
        if problem:
            problems.add("dropped_lines_malformed", f"line {number}: {shorten(image)}: {problem}")
            continue
        if not (image_dir / image).is_file():
            label = f"{image} (unreadable)" if image in unreadable else missing(image)
            problems.add("dropped_lines_missing_image", label)
            continue
        if not caption:
            problems.add("dropped_lines_empty_caption", f"line {number}: {image}")
            continue
        if caption in captions.get(image, []):
            problems.add("dropped_lines_duplicate", f"line {number}: {image}: {caption[:40]}")
            continue
        name = given_split(found[0], number, image, split, given_split_of.get(image))
        if name is not None:
            given_split_of.setdefault(image, name)
        captions.setdefault(image, []).append(caption)
    check_splits_given(found[0], {image: given_split_of.get(image) for image in captions})
    if not captions:
        raise TieError(
            f"no captioned images found in {found[0]} ({n_rows} rows): no row names an image"
            " of the images folder with a caption; check custom.images and custom.captions"
        )
    split_of = {
        image: given_split_of.get(image)
        or hash_split(image, split_seed, val_fraction, test_fraction)
        for image in captions
    }
    if same_picture == "one_split":
        split_of |= _one_split_per_picture(split_of, given_split_of, digests or {})
    ordered = [image for split in SPLITS for image in sorted(captions) if split_of[image] == split]
    report = {
        "caption_lines": n_rows,
        "images_kept": len(ordered),
        "captions_kept": sum(len(captions[image]) for image in ordered),
        **problems.as_dict(),
    }
    return Corpus(
        dataset="custom",
        images=ordered,
        splits=[split_of[image] for image in ordered],
        captions=[captions[image] for image in ordered],
        report=report,
    )


def _one_split_per_picture(
    split_of: dict[str, str], given_split_of: dict[str, str], digests: dict[str, str]
) -> dict[str, str]:
    """{image: split} for the hashed images whose bytes repeat another image's: the split of
    the first name (sorted) of that picture. A split the captions file gives is kept."""
    first: dict[str, str] = {}
    for image in sorted(split_of):
        if image in digests:
            first.setdefault(digests[image], image)
    return {
        image: split_of[first[digests[image]]]
        for image in split_of
        if image in digests and image not in given_split_of
    }
