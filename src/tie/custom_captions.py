"""The captions file of a custom dataset: its rows, and each image's split. Light to import.

Read by `tie.datasets.custom` (the data and splits stages) and by the params check, which
counts the images of each split (`eval.ks` must not exceed the test images) before any
stage runs. Formats and the split rule: see `tie.datasets.custom`.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import json
from pathlib import Path

from tie.errors import TieError

CAPTION_FORMATS = (".csv", ".jsonl", ".json")
SPLIT_NAMES = {"train": "train", "restval": "train", "val": "val", "test": "test"}


def read_caption_rows(path: Path) -> tuple[list[tuple[int, str, str, str | None]], int]:
    """(row number, image, caption, split or None) of every row, and the number of rows.

    Raises TieError for a file that is not in one of the formats (naming it and the row).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CAPTION_FORMATS:
        raise TieError(
            f"custom.captions {path}: unknown format {suffix!r}; use a .csv or .jsonl file "
            "(columns image, caption, optional split) or a Karpathy-format .json"
        )
    if not path.is_file():
        raise TieError(f"custom.captions {path} does not exist: set it in params.yaml")
    text = path.read_bytes().decode("utf-8-sig")
    if suffix == ".csv":
        records = list(enumerate(csv.DictReader(text.splitlines()), start=2))
        if records and not {"image", "caption"} <= set(records[0][1]):
            raise TieError(
                f"{path}: the header row must name the columns image and caption (and "
                f"optionally split); it has {', '.join(records[0][1])}"
            )
    elif suffix == ".jsonl":
        records = []
        for number, line in enumerate(text.split("\n"), start=1):
            if line.strip():
                try:
                    records.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise TieError(f"{path}, line {number}: not JSON ({error})") from None
    else:
        try:
            entries = json.loads(text)["images"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise TieError(
                f"{path} is not a Karpathy-format file ({{'images': [...]}}): {error}"
            ) from None
        records = [
            (number, {"image": e.get("filename"), "caption": s.get("raw"), "split": e.get("split")})
            for number, e in enumerate(entries, start=1)
            for s in e.get("sentences", [])
        ]
    rows = []
    for number, record in records:
        if not isinstance(record, dict):
            raise TieError(f"{path}, row {number}: expected an object with image and caption")
        image, caption, split = record.get("image"), record.get("caption"), record.get("split")
        rows.append((number, str(image or "").strip(), str(caption or "").strip(), split or None))
    return rows, len(records)


def hash_position(image: str, seed: int) -> float:
    """u in [0, 1): the first 8 bytes of sha256("<seed>:<image>") / 2**64."""
    digest = hashlib.sha256(f"{seed}:{image}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def hash_split(image: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """The split of `image` by a seeded hash of its name (see the module's docstring)."""
    u = hash_position(image, seed)
    if u < test_fraction:
        return "test"
    return "val" if u < test_fraction + val_fraction else "train"


def given_splits(images: str, captions: str) -> dict[str, str | None] | None:
    """The images the splits stage will keep (those with a caption and a file), each with
    the split its row gives (None: none given); None while the folder or the captions file
    does not exist or does not parse."""
    images_dir = Path(images)
    if not (images_dir.is_dir() and Path(captions).is_file()):
        return None
    try:
        rows, _ = read_caption_rows(Path(captions))
    except TieError:
        return None  # the data stage says what is wrong with it
    given_of = {}
    for _, image, caption, split in rows:
        if image and caption and image not in given_of and (images_dir / image).is_file():
            given_of[image] = SPLIT_NAMES.get(str(split).strip().lower()) if split else None
    return given_of


def split_counts(
    images: str, captions: str, val_fraction: float, test_fraction: float, split_seed: int
) -> dict[str, int] | None:
    """Images per split as the splits stage will count them (see `given_splits`)."""
    given_of = given_splits(images, captions)
    if given_of is None:
        return None
    counts = dict.fromkeys(("train", "val", "test"), 0)
    for image, given in given_of.items():
        counts[given or hash_split(image, split_seed, val_fraction, test_fraction)] += 1
    return counts


def fraction_for(
    split: str,
    needed: int,
    images: str,
    captions: str,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
) -> tuple[float, int] | None:
    """The smallest `custom.<split>_fraction` (val or test), in steps of 0.01, that puts at
    least `needed` images in `split`, the other fraction unchanged: (fraction, images).

    None where no fraction does: the captions file gives the splits, `split` is train, or
    no fraction below 1 - the other one (a train split must remain) gives enough images.
    """
    given_of = given_splits(images, captions)
    if split == "train" or not given_of or any(given_of.values()):
        return None
    positions = sorted(hash_position(image, split_seed) for image in given_of)
    other = val_fraction if split == "test" else test_fraction
    for percent in range(1, 100):
        fraction = percent / 100
        if fraction + other >= 1:
            break
        if split == "test":  # as hash_split: test below test_fraction, val next
            count = bisect.bisect_left(positions, fraction)
        else:
            top = bisect.bisect_left(positions, test_fraction + fraction)
            count = top - bisect.bisect_left(positions, test_fraction)
        if count >= needed:
            return fraction, count
    return None
