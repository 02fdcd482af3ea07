"""Reading a dataset's raw folder into a `Corpus`, split the way params.yaml says.

The splits of each dataset (params.yaml `split`):
- `official`: the dataset's own split lists, in the Flickr8k layout (demo, flickr8k), its
  held-out test subset chosen by hashed key (webdataset), or the custom captions file's
  split column or a seeded hash (custom);
- `karpathy`: Karpathy's split file (flickr8k, flickr30k, coco), the split every paper
  since 2015 reports on; for flickr8k it holds the same images as the official lists.
"""

from __future__ import annotations

from pathlib import Path

from tie.config.registry import DATASETS, SPLIT_LISTS
from tie.corpus.corpus import Corpus
from tie.corpus.custom import read_custom
from tie.corpus.flickr8k import read_flickr8k_layout
from tie.corpus.karpathy import read_karpathy_json
from tie.corpus.webdataset import read_webdataset
from tie.errors import TieError
from tie.raw.layout import KARPATHY_FILE, demo_layout, flickr8k_official_layout, image_dir

# dataset name -> the splits it can be read with (the first is where it comes from)
DATASET_SPLITS = {name: info.splits for name, info in DATASETS.items()}


def check_split(dataset: str, split: str) -> None:
    """Fail at once if dataset `dataset` has no split `split`, saying which it has."""
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
        return read_karpathy_json(raw_dir / KARPATHY_FILE, image_dir(raw_dir), name)
    layout = demo_layout(raw_dir) if name == "demo" else flickr8k_official_layout(raw_dir)
    return read_flickr8k_layout(layout, dataset=name)
