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
import json
import shutil
from pathlib import Path

from tie.errors import TieError, shorten
from tie.raw.captions_file import CAPTIONS_STEM, read_caption_rows
from tie.raw.layout import image_dir as images_folder
from tie.raw.names import MissingNames, name_problem, through_link

EXAMPLE_IMAGES = 150


def copy_custom(images_dir: Path, captions_file: Path, raw_dir: Path) -> dict:
    """Copy the captions file and the readable images it names into `raw_dir`; the report."""
    from tie.datasets.real import REPORT_FILE, image_problem

    images_dir, raw_dir = Path(images_dir), Path(raw_dir)
    if not images_dir.is_dir():
        raise TieError(f"custom.images {images_dir} is not a folder: set it in params.yaml")
    rows, _ = read_caption_rows(captions_file)
    if raw_dir.exists():
        shutil.rmtree(raw_dir)
    images_folder(raw_dir).mkdir(parents=True)
    suffix = Path(captions_file).suffix.lower()
    shutil.copyfile(captions_file, raw_dir / f"{CAPTIONS_STEM}{suffix}")
    named = sorted({image for _, image, _, _ in rows if image})
    copied, missing, unreadable = 0, [], []
    missing_name = MissingNames(images_dir)
    for image in named:
        problem = name_problem(image)
        source = images_dir / image
        if problem is None and through_link(images_dir, image):
            problem = (
                "a symbolic link, or inside a linked folder: only real files are copied (DVC"
                " does not see a change behind a linked folder); copy the file itself there"
            )
        if problem is None and source.exists() and not source.is_file():
            problem = "not a regular file (a folder, FIFO, socket or device)"
        if problem is None and not source.exists():
            missing.append(missing_name(image))
            continue
        problem = problem or image_problem(source)
        if problem:
            label = shorten(image) if name_problem(image) else image  # a file's name is short
            unreadable.append(f"{label}: {problem}")
            continue
        target = images_folder(raw_dir) / image
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
