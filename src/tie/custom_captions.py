"""The captions file of a custom dataset: its rows, and each image's split. Light to import.

Read by `tie.datasets.custom` (the data and splits stages) and by the params check, which
counts the images of each split (`eval.ks` must not exceed the test images) before any
stage runs. Formats and the split rule: see `tie.datasets.custom`.
"""

from __future__ import annotations

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


def hash_split(image: str, seed: int, val_fraction: float, test_fraction: float) -> str:
    """The split of `image` by a seeded hash of its name (see the module's docstring)."""
    digest = hashlib.sha256(f"{seed}:{image}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    if u < test_fraction:
        return "test"
    return "val" if u < test_fraction + val_fraction else "train"


def split_counts(
    images: str, captions: str, val_fraction: float, test_fraction: float, split_seed: int
) -> dict[str, int] | None:
    """Images per split as the splits stage will count them (those with a caption and a
    file); None while the folder or the captions file does not exist or does not parse."""
    images_dir = Path(images)
    if not (images_dir.is_dir() and Path(captions).is_file()):
        return None
    try:
        rows, _ = read_caption_rows(Path(captions))
    except TieError:
        return None  # the data stage says what is wrong with it
    split_of = {}
    for _, image, caption, split in rows:
        if image and caption and image not in split_of and (images_dir / image).is_file():
            given = SPLIT_NAMES.get(str(split).strip().lower()) if split else None
            split_of[image] = given or hash_split(image, split_seed, val_fraction, test_fraction)
    counts = dict.fromkeys(("train", "val", "test"), 0)
    for split in split_of.values():
        counts[split] += 1
    return counts
