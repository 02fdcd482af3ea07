"""The captions file of a custom dataset: its rows, and each image's split. Light to import.

Read by `tie.datasets.custom` (the data and splits stages) and by the params check, which
counts the images of each split (`eval.ks` must not exceed the test images) before any
stage runs. Formats and the split rule: see `tie.datasets.custom`.

An image name is kept exactly as written, surrounding spaces included (see `tie.raw.names`).
A caption is kept as written, its whitespace normalised (runs of spaces, tabs, line breaks,
U+2028 ... become one space). A field of the wrong type (a caption that is a list, a number,
a boolean or NaN; a split that is not a string) is refused, naming the file, the line (or
the Karpathy entry) and the field: it is never turned into text.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import io
import json
from pathlib import Path

from tie.errors import TieError, shorten
from tie.raw.names import inside

CAPTION_FORMATS = (".csv", ".jsonl", ".json")
CAPTIONS_STEM = "captions"  # the copy in the raw folder: captions.csv / .jsonl / .json
# A split label as a captions file (or Karpathy's JSON) writes it -> the pipeline's split.
SPLIT_OF_LABEL = {"train": "train", "restval": "train", "val": "val", "test": "test"}

Row = tuple[int, str, str, "str | None"]


def read_caption_rows(path: Path) -> tuple[list[Row], int]:
    """(line, image, caption, split or None) of every row, and the number of rows.

    Raises TieError for a file that is not in one of the formats (naming it, the line and
    the field). The line is the file's line where the row starts (for Karpathy JSON, the
    number of the entry in `images`).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in CAPTION_FORMATS:
        raise TieError(
            f"custom.captions {path}: unknown format {suffix!r}; use a .csv or .jsonl file "
            "(columns image, caption, optional split) or a Karpathy-format .json"
        )
    if not path.is_file():
        raise TieError(
            f"custom.captions {path} does not exist or is not a file: set it in params.yaml"
        )
    text = _decode(path)
    reader = {".csv": _csv_rows, ".jsonl": _jsonl_rows, ".json": _karpathy_rows}[suffix]
    return reader(path, text)


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise TieError(
            f"{path}, line {line}: not UTF-8 (byte 0x{data[error.start]:02x}); save the "
            "captions file as UTF-8"
        ) from None


def _caption(value: str) -> str:
    return " ".join(value.split())


def _csv_rows(path: Path, text: str) -> tuple[list[Row], int]:
    """CSV by the `csv` module: a quoted field may hold commas and line breaks."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return [], 0
    columns = [name.strip() for name in header]
    if not {"image", "caption"} <= set(columns):
        raise TieError(
            f"{path}: the header row must name the columns image and caption (and "
            f"optionally split); it has {shorten(', '.join(columns))}"
        )
    position = {
        name: columns.index(name) for name in ("image", "caption", "split") if name in columns
    }
    rows, start = [], reader.line_num + 1
    for fields in _csv_records(path, reader):
        number, start = start, reader.line_num + 1
        if not any(field.strip() for field in fields):
            continue  # a blank line
        if len(fields) > len(columns):
            raise TieError(
                f"{path}, line {number}: {len(fields)} fields, the header has {len(columns)}"
                " (a caption with a comma must be in double quotes)"
            )
        value = {name: fields[i] if i < len(fields) else "" for name, i in position.items()}
        split = value.get("split", "").strip() or None
        rows.append((number, value["image"], _caption(value["caption"]), split))
    return rows, len(rows)


def _csv_records(path: Path, reader):
    """The reader's records; one it cannot read is a TieError naming the line (a field over
    the csv module's limit: a double quote never closed, or a caption that long)."""
    while True:
        try:
            yield next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            reason = str(error)
            if "field limit" in reason:
                reason = (
                    f"a field longer than {csv.field_size_limit():,} characters: a double"
                    " quote that is never closed, or a caption that long; close the quote or"
                    " shorten the caption"
                )
            raise TieError(f"{path}, line {reader.line_num}: {reason}") from None


def _jsonl_rows(path: Path, text: str) -> tuple[list[Row], int]:
    rows = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise TieError(f"{path}, line {number}: not JSON ({error})") from None
        where = f"{path}, line {number}"
        if not isinstance(record, dict):
            raise TieError(f"{where}: expected an object with image and caption")
        rows.append((number, *_fields(where, record, "image", "caption")))
    return rows, len(rows)


def _karpathy_rows(path: Path, text: str) -> tuple[list[Row], int]:
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise TieError(f"{path} is not JSON ({error})") from None
    entries = document.get("images") if isinstance(document, dict) else None
    if not isinstance(entries, list):
        raise TieError(f"{path} is not a Karpathy-format file: expected {{'images': [...]}}")
    rows = []
    for number, entry in enumerate(entries, start=1):
        where = f"{path}, images[{number - 1}]"
        if not isinstance(entry, dict):
            raise TieError(
                f"{where}: {_typed(entry)}; expected an object with filename and sentences"
            )
        sentences = entry.get("sentences", [])
        if not isinstance(sentences, list):
            raise TieError(
                f"{where}.sentences: {_typed(sentences)}; it must be a list of objects with raw"
            )
        image, _, split = _fields(where, {**entry, "raw": None}, "filename", "raw")
        for k, sentence in enumerate(sentences):
            if not isinstance(sentence, dict):
                raise TieError(
                    f"{where}.sentences[{k}]: {_typed(sentence)}; expected an object with raw"
                )
            _, caption, _ = _fields(f"{where}.sentences[{k}]", sentence, "filename", "raw")
            rows.append((number, image, caption, split))
    return rows, len(rows)


def _fields(
    where: str, record: dict, image_key: str, caption_key: str
) -> tuple[str, str, str | None]:
    """(image, caption, split) of one record; a field of the wrong type is a TieError.

    A missing or null image or caption is kept empty (the reader drops and reports the
    row); a present one must be a string.
    """
    values = {}
    for key in (image_key, caption_key, "split"):
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            raise TieError(
                f"{where}: field {key} is {_typed(value)}; it must be a string (write it in"
                " double quotes)"
            )
        values[key] = value
    split = (values["split"] or "").strip() or None
    return values[image_key] or "", _caption(values[caption_key] or ""), split


def _typed(value) -> str:
    """`a list ([...])`, `a number (nan)`: what a wrong value is, quoted briefly."""
    kind = {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "a list",
        dict: "an object",
    }
    return f"{kind.get(type(value), type(value).__name__)} ({shorten(value)})"


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
    """The images the splits stage will keep (those with a caption and a file inside the
    folder), each with the split its row gives (None: none given); None while the folder
    or the captions file does not exist.

    A captions file that does not parse is a TieError (naming its line and field).
    """
    images_dir = Path(images)
    if not (images_dir.is_dir() and Path(captions).is_file()):
        return None
    rows, _ = read_caption_rows(Path(captions))
    given_of = {}
    for number, image, caption, split in rows:
        path = inside(images_dir, image)
        if caption and path is not None and path.is_file():
            given = given_split(captions, number, image, split, given_of.get(image))
            if given_of.get(image) is None:
                given_of[image] = given
    check_splits_given(captions, given_of)
    return given_of


def given_split(captions, number: int, image: str, split, earlier: str | None) -> str | None:
    """The split a row gives its image (train, val, test; None: none); a TieError for a
    value that is not a split, or an image given two splits (`earlier`: an earlier row's)."""
    if split is None:
        return None
    name = SPLIT_OF_LABEL.get(str(split).strip().lower())
    if name is None:
        raise TieError(
            f"{captions}, line {number}: split {shorten(split)}; expected one of "
            f"{', '.join(SPLIT_OF_LABEL)} (or no split column at all)"
        )
    if earlier is not None and earlier != name:
        raise TieError(
            f"{captions}, line {number}: image {image} is in split {name} here and in "
            f"{earlier} on an earlier row; an image has one split"
        )
    return name


def check_splits_given(captions, given_of: dict[str, str | None]) -> None:
    """Refuse splits given for some images and not others."""
    if any(given_of.values()) and not all(given_of.values()):
        without = next(image for image, given in given_of.items() if not given)
        raise TieError(
            f"{captions}: some rows give a split and others not (e.g. {without}); give a "
            "split for every image, or for none (then a seeded hash of the name chooses)"
        )


def split_counts(
    images: str,
    captions: str,
    val_fraction: float,
    test_fraction: float,
    split_seed: int,
    same_picture: str = "one_split",
) -> dict[str, int] | None:
    """Images per split as the splits stage will count them (see `given_splits`), each name
    hashed on its own: `same_picture: one_split` moves the names of a repeated picture to the
    split of its first name, which needs every image's bytes (the data stage reads them)."""
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
    same_picture: str = "one_split",
) -> tuple[float, int] | None:
    """The smallest `custom.<split>_fraction` (val or test), in steps of 0.01, that puts at
    least `needed` images in `split`, the other fraction unchanged: (fraction, images).

    None where no fraction does: the captions file gives the splits, `split` is train, or
    no fraction below 1 - the other one (a train split must remain) gives enough images.
    Names counted as `split_counts` counts them (each hashed on its own).
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
