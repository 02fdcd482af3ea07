"""The raw folder's layout: where a dataset's images and caption files are inside it.

The `data` stage writes a raw folder in one of these layouts (`tie.datasets`); the readers
(`tie.corpus`) and the stages that read images (`image_features`, `evaluate`'s gallery)
find the files through them. Nothing here generates, downloads or parses captions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tie.config.registry import DATASETS, SPLITS
from tie.errors import TieError, shorten
from tie.raw.names import inside, name_problem
from tie.raw.webdataset import image_sources as tar_members

CAPTIONS_PER_IMAGE = 5
KARPATHY_FILE = "karpathy.json"  # a real dataset's split file, beside its images
IMAGES_DIR = "images"  # every dataset's images (or a webdataset's index), in its raw folder


@dataclass(frozen=True)
class Flickr8kLayout:
    """Where the files of a dataset in the Flickr8k layout are.

    `split_files` maps "train", "val" and "test" to the split lists (Flickr8k calls the
    validation list "dev": `Flickr_8k.devImages.txt`).
    """

    image_dir: Path
    token_file: Path
    split_files: dict[str, Path]

    def __post_init__(self):
        if set(self.split_files) != set(SPLITS):
            raise ValueError(
                f"split_files has keys {sorted(self.split_files)}; expected exactly {list(SPLITS)}"
            )


def demo_layout(raw_dir: Path) -> Flickr8kLayout:
    """Where `generate_demo(raw_dir)` writes the demo dataset's files."""
    raw_dir = Path(raw_dir)
    return Flickr8kLayout(
        image_dir=raw_dir / IMAGES_DIR,
        token_file=raw_dir / "demo.token.txt",
        split_files={
            "train": raw_dir / "demo.trainImages.txt",
            "val": raw_dir / "demo.devImages.txt",
            "test": raw_dir / "demo.testImages.txt",
        },
    )


FLICKR8K_TEXT_FILES = {
    "token": "Flickr8k.token.txt",
    "train": "Flickr_8k.trainImages.txt",
    "val": "Flickr_8k.devImages.txt",
    "test": "Flickr_8k.testImages.txt",
}


def flickr8k_official_layout(raw_dir: Path) -> Flickr8kLayout:
    raw_dir = Path(raw_dir)
    return Flickr8kLayout(
        image_dir=raw_dir / IMAGES_DIR,
        token_file=raw_dir / FLICKR8K_TEXT_FILES["token"],
        split_files={
            split: raw_dir / FLICKR8K_TEXT_FILES[split] for split in ("train", "val", "test")
        },
    )


MANIFEST_NAME = "manifest.json"  # every file's name, size and MD5 (tie.datasets.manifest)


def image_dir(raw_dir: Path) -> Path:
    """The folder of a dataset's images inside its raw folder (every dataset has one)."""
    return Path(raw_dir) / IMAGES_DIR


def image_sources(name: str, raw_dir: Path, ids: list[str]) -> list:
    """What an image encoder reads for each image id of dataset `name`: a file, or a member
    of a tar shard (a dataset whose images are in shards, `DatasetInfo.images_in_shards`)."""
    if DATASETS[name].images_in_shards:
        return tar_members(raw_dir, ids)
    images = image_dir(raw_dir)
    paths = [inside(images, image_id) for image_id in ids]
    if None in paths:
        bad = ids[paths.index(None)]
        raise TieError(
            f"image list entry {shorten(bad)}: {name_problem(bad)}; it was not written by the"
            " splits stage: run `dvc repro -f splits`"
        )
    return paths
