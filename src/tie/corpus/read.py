"""What every reader of a raw folder shares: the split schemes a dataset has (`tie fetch
--split` is checked against them) and the report of images with the same content. Each
kind of dataset reads its raw folder with its reader (`tie.datasets.kinds`).

The splits of each dataset (params.yaml `split`):
- `official`: the dataset's own split lists, in the Flickr8k layout (demo, flickr8k), its
  held-out test subset chosen by hashed key (webdataset), or the custom captions file's
  split column or a seeded hash (custom);
- `karpathy`: Karpathy's split file (flickr8k, flickr30k, coco), the split every paper
  since 2015 reports on; for flickr8k it holds the same images as the official lists.
"""

from __future__ import annotations

import json
from pathlib import Path

from tie.config.registry import DATASETS, SPLIT_LISTS
from tie.corpus.corpus import Corpus
from tie.corpus.flickr8k import SAME_CONTENT, Problems
from tie.errors import TieError
from tie.raw.layout import MANIFEST_NAME, image_dir
from tie.recorded import check_recorded

# dataset name -> the splits it can be read with (the first is where it comes from)
DATASET_SPLITS = {name: info.splits for name, info in DATASETS.items()}


def check_split(dataset: str, split: str) -> None:
    """Fail at once if dataset `dataset` has no split `split`, saying which it has (`tie
    fetch --split`; params.yaml's `split` is checked by its schema)."""
    if split not in SPLIT_LISTS:
        raise TieError(
            f"unknown split {split!r} in params.yaml; valid names: {', '.join(SPLIT_LISTS)}"
        )
    valid = DATASET_SPLITS[dataset]
    if split not in valid:
        raise TieError(
            f"dataset {dataset!r} has no {split!r} split; it has: {', '.join(valid)} "
            f"(e.g. `dvc exp run -S dataset={dataset} -S split={valid[0]}`)"
        )


def same_content(corpus: Corpus, raw_dir: Path) -> dict:
    """The kept images whose bytes equal an earlier kept image's (the MD5 the data stage's
    manifest records): `{"count", "examples": ["a.jpg = b.jpg (train, test)", ...]}`.

    The same picture under two names is two images to the protocol; in train and test both,
    it is a test image the model has seen. Reported, never dropped; a custom dataset keeps
    them in one split (`custom.same_picture`, `tie.corpus.custom`), a published split as it is.
    """
    md5_of = content_digests(raw_dir)
    first: dict[str, tuple[str, str]] = {}
    problems = Problems()
    for image, split in zip(corpus.images, corpus.splits, strict=True):
        digest = md5_of.get(image)
        if digest is None:
            continue
        if digest in first:
            earlier, earlier_split = first[digest]
            problems.add(SAME_CONTENT, f"{earlier} = {image} ({earlier_split}, {split})")
        else:
            first[digest] = (image, split)
    return {"count": problems.counts[SAME_CONTENT], "examples": problems.examples[SAME_CONTENT]}


def content_digests(raw_dir: Path) -> dict[str, str]:
    """{image name: the MD5 of its bytes} from the data stage's manifest ({} without one)."""
    manifest = Path(raw_dir) / MANIFEST_NAME
    md5_of = {}
    if manifest.is_file():
        check_recorded(manifest)
        prefix = f"{image_dir(raw_dir).relative_to(raw_dir).as_posix()}/"
        for entry in json.loads(manifest.read_text())["files"]:
            if entry[0].startswith(prefix):
                md5_of[entry[0][len(prefix) :]] = entry[2]
    return md5_of
