"""`custom`: your own captioned images, a folder of images plus a captions file.

The captions file (params.yaml `custom.captions`) is one of:
- CSV (`.csv`) with a header row: columns `image`, `caption` and, optionally, `split`;
- JSON Lines (`.jsonl`): one object a line with the same keys;
- Karpathy-format JSON (`.json`): `{"images": [{"filename", "split", "sentences":
  [{"raw": ...}, ...]}, ...]}` (`split` optional; `restval` counts as train).
`image` is the image's path relative to the images folder (`custom.images`). An image
may have any number of captions, on as many rows. `split` is train, val or test; given for
one image, it must be given for every image. Without it, each image goes to a split by a
seeded hash of its name (`custom.split_seed`): u = the first 8 bytes of
sha256("<seed>:<image>") / 2^64, test if u < `custom.test_fraction`, else val if
u < test + `custom.val_fraction`, else train. The split of an image never depends on the
other images, so adding images moves none.

The `data` stage copies the images the captions file names (checked: a file that is not a
readable image is left out and reported) and the captions file into the raw folder; the
`splits` stage reads them with the same checks and report as the published datasets
(missing images, empty captions, repeated captions: counted and named).
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path, PurePosixPath

from tie.corpus import SPLITS, Corpus
from tie.datasets.flickr8k_layout import Problems
from tie.errors import TieError

CAPTION_FORMATS = (".csv", ".jsonl", ".json")
SPLIT_NAMES = {"train": "train", "restval": "train", "val": "val", "test": "test"}
CAPTIONS_STEM = "captions"  # the copy in the raw folder: captions.csv / .jsonl / .json
EXAMPLE_IMAGES = 150


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


def copy_custom(images_dir: Path, captions_file: Path, raw_dir: Path) -> dict:
    """Copy the captions file and the readable images it names into `raw_dir`; the report."""
    from tie.datasets.real import REPORT_FILE, image_problem

    images_dir, raw_dir = Path(images_dir), Path(raw_dir)
    if not images_dir.is_dir():
        raise TieError(f"custom.images {images_dir} is not a folder: set it in params.yaml")
    rows, _ = read_caption_rows(captions_file)
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    (raw_dir / "images").mkdir(parents=True)
    shutil.copyfile(captions_file, raw_dir / f"{CAPTIONS_STEM}{Path(captions_file).suffix}")
    named = sorted({image for _, image, _, _ in rows if image})
    copied, missing, unreadable = 0, [], []
    for image in named:
        source = images_dir / image
        if PurePosixPath(image).is_absolute() or ".." in PurePosixPath(image).parts:
            unreadable.append(f"{image}: not a path inside the images folder")
            continue
        if not source.is_file():
            missing.append(image)
            continue
        problem = image_problem(source)
        if problem:
            unreadable.append(f"{image}: {problem}")
            continue
        target = raw_dir / "images" / image
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        copied += 1
    report = {
        "dataset": "custom",
        "images_named": len(named),
        "images_copied": copied,
        "missing": missing,
        "unreadable": unreadable,
    }
    (raw_dir / REPORT_FILE).write_text(json.dumps(report, indent=1) + "\n")
    return report


def read_custom(
    raw_dir: Path, *, val_fraction: float, test_fraction: float, split_seed: int
) -> Corpus:
    """The corpus of the custom dataset in `raw_dir`, bad rows dropped and reported."""
    raw_dir = Path(raw_dir)
    found = [p for p in raw_dir.glob(f"{CAPTIONS_STEM}.*") if p.suffix in CAPTION_FORMATS]
    if len(found) != 1:
        raise FileNotFoundError(f"no captions file in {raw_dir}: run the data stage again")
    rows, n_rows = read_caption_rows(found[0])
    image_dir = raw_dir / "images"
    problems = Problems()
    captions: dict[str, list[str]] = {}
    given_split: dict[str, str] = {}
    for number, image, caption, split in rows:
        if not image:
            problems.add("dropped_lines_malformed", f"row {number}: no image")
            continue
        if not (image_dir / image).is_file():
            problems.add("dropped_lines_missing_image", image)
            continue
        if not caption:
            problems.add("dropped_lines_empty_caption", f"row {number}: {image}")
            continue
        if caption in captions.get(image, []):
            problems.add("dropped_lines_duplicate", f"row {number}: {image}: {caption[:40]}")
            continue
        if split is not None:
            name = SPLIT_NAMES.get(str(split).strip().lower())
            if name is None:
                raise TieError(
                    f"{found[0]}, row {number}: split {split!r}; expected one of "
                    f"{', '.join(SPLIT_NAMES)} (or no split column at all)"
                )
            if given_split.setdefault(image, name) != name:
                raise TieError(
                    f"{found[0]}, row {number}: image {image} is in split {name} here and in "
                    f"{given_split[image]} on an earlier row; an image has one split"
                )
        captions.setdefault(image, []).append(caption)
    if given_split and len(given_split) != len(captions):
        without = next(image for image in captions if image not in given_split)
        raise TieError(
            f"{found[0]}: some rows give a split and others not (e.g. {without}); give a "
            "split for every image, or for none (then a seeded hash of the name chooses)"
        )
    split_of = {
        image: given_split.get(image) or hash_split(image, split_seed, val_fraction, test_fraction)
        for image in captions
    }
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


def write_example(folder: Path, n_images: int = EXAMPLE_IMAGES, seed: int = 1) -> None:
    """A small captioned folder in the custom layout: `images/` and `captions.csv`.

    Scenes of the demo generator, with 1 to 5 captions each and no split column.
    """
    from tie.datasets.demo import make_demo_example

    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    with (folder / "captions.csv").open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["image", "caption"])
        for index in range(n_images):
            example = make_demo_example(seed, index, 64)
            name = f"photo-{index:04d}.png"
            example.image.save(folder / "images" / name)
            for caption in example.captions[: 1 + index % 5]:
                writer.writerow([name, caption])
