"""Datasets by name: how to produce the raw files, and how to read them into a Corpus.

Every dataset is stored in the Flickr8k file layout (images + token file + split
lists), so one reader serves all of them.
"""

from __future__ import annotations

from pathlib import Path

from tie.corpus import Corpus
from tie.datasets.demo import demo_layout, generate_demo
from tie.datasets.flickr8k_layout import read_flickr8k_layout

DATASETS = {
    "demo": demo_layout,
}


def prepare_dataset(name: str, raw_dir: Path, params: dict) -> None:
    """Write dataset `name`'s raw files into `raw_dir` (the demo is generated)."""
    if name == "demo":
        generate_demo(Path(raw_dir), **params["demo"])
    else:
        raise ValueError(f"no way to prepare dataset {name!r}")


def read_dataset(name: str, raw_dir: Path) -> Corpus:
    return read_flickr8k_layout(DATASETS[name](Path(raw_dir)), dataset=name)


def image_dir(name: str, raw_dir: Path) -> Path:
    return DATASETS[name](Path(raw_dir)).image_dir
