"""Writing dataset `name`'s raw folder (stage `data`), by name.

`demo` is generated in the Flickr8k file layout (`tie.datasets.demo`). `custom` is the
user's own folder of images and captions file, copied and checked
(`tie.datasets.custom`). The real datasets (flickr8k, flickr30k, coco) are fetched and
extracted (`tie.datasets.real`), with the split files of params.yaml `split`.
`webdataset` is a collection of tar shards (section `webdataset` of params.yaml),
indexed, never extracted (`tie.datasets.webdataset`).
"""

from __future__ import annotations

from pathlib import Path

from tie.datasets.custom import copy_custom
from tie.datasets.demo import default_workers, generate_demo
from tie.datasets.real import prepare_real_dataset
from tie.datasets.sources import sources_for
from tie.datasets.webdataset import prepare_webdataset


def prepare_dataset(name: str, raw_dir: Path, params: dict, downloads_dir: Path) -> dict | None:
    """Write dataset `name`'s raw files into `raw_dir`: generate the demo, fetch the others.

    The demo is drawn by one process per CPU this process may use (same files as one).
    Real datasets' archives (those of the images and of the `split` chosen) are fetched into
    (or found in) `downloads_dir`; their extraction report is returned.
    """
    if name == "demo":
        generate_demo(Path(raw_dir), **params["demo"], workers=default_workers())
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
