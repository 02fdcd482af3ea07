"""Where every real dataset's files come from: URLs, checksums, sizes and image counts.

This is the one place to change a source. `TIE_DOWNLOAD_MIRROR=<url>` fetches every file
from `<url>/<file name>` instead (see `tie.download`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from tie.download import RemoteFile
from tie.errors import TieError

# The original University of Illinois URLs of Flickr8k are dead; this public mirror holds
# the same two archives (the checksums are those of the original archives).
FLICKR8K_IMAGES = RemoteFile(
    name="Flickr8k_Dataset.zip",
    url="https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_Dataset.zip",
    checksum="md5:f18a1e2920de5bd84dae7cf08ec78978",
)
FLICKR8K_TEXT = RemoteFile(
    name="Flickr8k_text.zip",
    url="https://github.com/jbrownlee/Datasets/releases/download/Flickr8k/Flickr8k_text.zip",
    checksum="md5:bf6c1abcb8e4a833b7f922104de18627",
)
COCO_TRAIN2014 = RemoteFile(
    name="train2014.zip",
    url="http://images.cocodataset.org/zips/train2014.zip",
    checksum="md5:0da8c0bd3d6becc4dcb32757491aca88",
)
COCO_VAL2014 = RemoteFile(
    name="val2014.zip",
    url="http://images.cocodataset.org/zips/val2014.zip",
    checksum="md5:a3d79f5ed8d289b7a7554ce06a5782b3",
)
# Karpathy's split files (dataset_flickr8k.json, dataset_flickr30k.json, dataset_coco.json).
# No checksum of this archive is published, so none is checked: only that the archive
# opens and holds the JSON file a dataset needs.
KARPATHY_SPLITS = RemoteFile(
    name="caption_datasets.zip",
    url="https://cs.stanford.edu/people/karpathy/deepimagesent/caption_datasets.zip",
    checksum=None,
)

# Flickr30k's images are given out only after accepting its terms of use on a form, so
# they cannot be downloaded by the pipeline: the user places the archive by hand.
FLICKR30K_IMAGES_ARCHIVE = "flickr30k-images.tar.gz"
FLICKR30K_REQUEST_URL = "https://shannon.cs.illinois.edu/DenotationGraph/"


@dataclass(frozen=True)
class DatasetSources:
    """The files a dataset is made from, and what a complete copy holds."""

    downloads: tuple[RemoteFile, ...]  # fetched by the pipeline
    manual_archives: tuple[str, ...]  # placed by the user in the downloads folder
    image_archives: tuple[str, ...]  # archive names (of the two above) that hold the images
    split_archives: dict[str, tuple[str, ...]]  # split -> the archives of its caption files
    karpathy_json: str  # the member of caption_datasets.zip with this dataset's split
    n_images: int  # images the image archives hold, all together
    split_images: dict[str, int]  # split -> images its caption file gives (train+val+test)
    licence: str


SOURCES = {
    "flickr8k": DatasetSources(
        downloads=(FLICKR8K_IMAGES, FLICKR8K_TEXT, KARPATHY_SPLITS),
        manual_archives=(),
        image_archives=(FLICKR8K_IMAGES.name,),
        split_archives={"official": (FLICKR8K_TEXT.name,), "karpathy": (KARPATHY_SPLITS.name,)},
        karpathy_json="dataset_flickr8k.json",
        n_images=8091,
        split_images={"official": 8000, "karpathy": 8000},
        licence="research use only; images remain the property of their Flickr owners",
    ),
    "flickr30k": DatasetSources(
        downloads=(KARPATHY_SPLITS,),
        manual_archives=(FLICKR30K_IMAGES_ARCHIVE,),
        image_archives=(FLICKR30K_IMAGES_ARCHIVE,),
        split_archives={"karpathy": (KARPATHY_SPLITS.name,)},
        karpathy_json="dataset_flickr30k.json",
        n_images=31783,
        split_images={"karpathy": 31014},
        licence="non-commercial research and education only, after accepting the terms "
        f"on the request form ({FLICKR30K_REQUEST_URL})",
    ),
    "coco": DatasetSources(
        downloads=(COCO_TRAIN2014, COCO_VAL2014, KARPATHY_SPLITS),
        manual_archives=(),
        image_archives=(COCO_TRAIN2014.name, COCO_VAL2014.name),
        split_archives={"karpathy": (KARPATHY_SPLITS.name,)},
        karpathy_json="dataset_coco.json",
        n_images=82783 + 40504,
        split_images={"karpathy": 123287},
        licence="annotations CC BY 4.0; images under the Flickr terms of use of each image",
    ),
}

# A JSON file of overrides for the table above, for tests and private mirrors whose
# archives differ from the published ones (see `sources_for`).
SOURCES_FILE_ENV = "TIE_SOURCES_FILE"
OVERRIDABLE = ("checksums", "n_images")


def sources_for(name: str) -> DatasetSources:
    """`name`'s sources, with the overrides of the file `TIE_SOURCES_FILE` names, if set.

    The file maps a dataset to new checksums (by file name) and a new image count, e.g.
    `{"flickr8k": {"checksums": {"Flickr8k_Text.zip": "md5:..."}, "n_images": 51}}`.
    DVC does not track it: after changing it, re-run the `data` stage with `--force`.
    """
    sources = SOURCES[name]
    path = os.environ.get(SOURCES_FILE_ENV)
    if not path:
        return sources
    try:
        overrides = json.loads(Path(path).read_text()).get(name, {})
    except (OSError, ValueError, AttributeError) as error:
        raise TieError(
            f"{SOURCES_FILE_ENV}={path}: not a readable JSON object ({error})"
        ) from error
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    checksums = dict(overrides.get("checksums", {}))
    unknown += [
        f"checksums.{f}" for f in sorted(set(checksums) - {d.name for d in sources.downloads})
    ]
    if unknown:
        raise TieError(
            f"{SOURCES_FILE_ENV}={path}: {name} has no {', '.join(unknown)} to override"
            f" (overridable: {', '.join(OVERRIDABLE)}; downloads:"
            f" {', '.join(d.name for d in sources.downloads)})"
        )
    downloads = tuple(
        replace(d, checksum=checksums.get(d.name, d.checksum)) for d in sources.downloads
    )
    return replace(
        sources, downloads=downloads, n_images=overrides.get("n_images", sources.n_images)
    )
