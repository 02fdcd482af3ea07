"""Datasets by name: how to produce the raw files, and how to read them into a Corpus.

`demo` is generated in the Flickr8k file layout. `custom` is the user's own folder of
images and captions file (`tie.datasets.custom`), split by its file or a seeded hash.
The real datasets (flickr8k, flickr30k, coco) are fetched and extracted by
`tie.datasets.real`, and read with one of two splits (params.yaml `split`):
- `official`: the dataset's own split lists, in the Flickr8k layout (demo, flickr8k);
- `karpathy`: Karpathy's split file (flickr8k, flickr30k, coco), the split every paper
  since 2015 reports on; for flickr8k it holds the same images as the official lists.

`webdataset` is a collection of tar shards (section `webdataset` of params.yaml; see
`tie.datasets.webdataset`): indexed, never extracted; its `official` split is a held-out
test subset chosen by hashed key.
"""

from __future__ import annotations

from pathlib import Path

from tie.corpus import Corpus
from tie.datasets.custom import copy_custom, read_custom
from tie.datasets.demo import demo_layout, generate_demo
from tie.datasets.flickr8k_layout import read_flickr8k_layout
from tie.datasets.karpathy import read_karpathy_json
from tie.datasets.real import KARPATHY_FILE, flickr8k_official_layout, prepare_real_dataset
from tie.datasets.sources import sources_for
from tie.datasets.webdataset import image_sources as webdataset_images
from tie.datasets.webdataset import prepare_webdataset, read_webdataset
from tie.errors import TieError, shorten
from tie.image_names import inside, name_problem
from tie.registry import DATASETS as DATASET_INFO
from tie.registry import SPLIT_NAMES

# dataset name -> the splits it can be read with (the first is where it comes from)
DATASETS = {name: info.splits for name, info in DATASET_INFO.items()}


def check_split(dataset: str, split: str) -> None:
    """Fail at once if dataset `dataset` has no split `split`, saying which it has."""
    if split not in SPLIT_NAMES:
        raise TieError(
            f"unknown split {split!r} in params.yaml; valid names: {', '.join(SPLIT_NAMES)}"
        )
    valid = DATASETS[dataset]
    if split not in valid:
        raise TieError(
            f"dataset {dataset!r} has no {split!r} split; it has: {', '.join(valid)} "
            f"(e.g. `dvc exp run -S dataset={dataset} -S split={valid[0]}`)"
        )


def prepare_dataset(name: str, raw_dir: Path, params: dict, downloads_dir: Path) -> dict | None:
    """Write dataset `name`'s raw files into `raw_dir`: generate the demo, fetch the others.

    Real datasets' archives (those of the images and of the `split` chosen) are fetched into
    (or found in) `downloads_dir`; their extraction report is returned.
    """
    if name == "demo":
        generate_demo(Path(raw_dir), **params["demo"])
        return None
    if name == "custom":
        return copy_custom(params["custom"]["images"], params["custom"]["captions"], raw_dir)
    if name == "webdataset":
        return prepare_webdataset(raw_dir, params["webdataset"])
    return prepare_real_dataset(
        name,
        sources_for(name),
        raw_dir,
        downloads_dir,
        params["raw"]["max_missing_fraction"],
        splits=(params["split"],),
    )


def read_dataset(
    name: str, raw_dir: Path, split: str = "official", params: dict | None = None
) -> Corpus:
    """The corpus of dataset `name` from its raw files, split the `split` way.

    `params` (params.yaml) is needed by `custom` (its split fractions and seed) and
    `webdataset` (its split sizes).
    """
    check_split(name, split)
    raw_dir = Path(raw_dir)
    if name == "custom":
        keys = ("val_fraction", "test_fraction", "split_seed")
        return read_custom(raw_dir, **{key: params["custom"][key] for key in keys})
    if name == "webdataset":
        return read_webdataset(raw_dir, params["webdataset"])
    if split == "karpathy":
        return read_karpathy_json(raw_dir / KARPATHY_FILE, image_dir(name, raw_dir), name)
    layout = demo_layout(raw_dir) if name == "demo" else flickr8k_official_layout(raw_dir)
    return read_flickr8k_layout(layout, dataset=name)


def image_dir(name: str, raw_dir: Path) -> Path:
    if name == "demo":
        return demo_layout(Path(raw_dir)).image_dir
    return flickr8k_official_layout(Path(raw_dir)).image_dir


def image_sources(name: str, raw_dir: Path, ids: list[str]) -> list:
    """What an image encoder reads for each image id: a file, or a member of a tar shard."""
    if name == "webdataset":
        return webdataset_images(raw_dir, ids)
    images = image_dir(name, raw_dir)
    paths = [inside(images, image_id) for image_id in ids]
    if None in paths:
        bad = ids[paths.index(None)]
        raise TieError(
            f"image list entry {shorten(bad)}: {name_problem(bad)}; it was not written by the"
            " splits stage: run `dvc repro -f splits`"
        )
    return paths
