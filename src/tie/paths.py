"""Where the pipeline writes each output: the one place these paths are spelled out.

Paths carry the choices (`dataset`, `image`, `text`), so the results of every choice
coexist in DVC's cache. `dvc.yaml` writes the same templates with `${...}` (a test
checks that both agree); `tie search`, the stages' defaults and the tests use these.
"""

from __future__ import annotations

from pathlib import Path

DOWNLOADS = "data/downloads"  # real datasets' archives, kept between runs (not an output)
RAW = "data/raw/{dataset}"
RAW_IMAGES = "data/raw/{dataset}/images"  # every dataset's images, inside its raw folder
SPLITS = "data/splits/{dataset}.json"
IMAGE_LIST = "data/splits/{dataset}.images.txt"  # the images, by name: what image_features reads
CUSTOM_EXAMPLE = "data/custom-example"  # the default `custom` folder (stage custom_example)
IMAGE_FEATURES = "features/{dataset}/image/{image}.npy"
IMAGE_IDS = "features/{dataset}/image/{image}.ids.txt"
IMAGE_REPORT = "features/{dataset}/image/{image}.report.json"
VOCAB = "features/{dataset}/vocab/{text}.npz"
TEXT_FEATURES = "features/{dataset}/text/{text}.npy"
TEXT_IDS = "features/{dataset}/text/{text}.ids.txt"
TEXT_COVERAGE = "features/{dataset}/text/{text}.coverage.json"
MODEL_DIR = "models/{dataset}/{image}-{text}"
CCA_GRID = "metrics/cca_grid.csv"
CCA_SELECTION = "metrics/cca_selection.json"
RETRIEVAL = "metrics/retrieval.json"
RECALL_CURVES = "metrics/recall_at_k.csv"
GALLERY = "metrics/gallery.png"


def output_path(template: str, root: Path | str = ".", **choices: str) -> Path:
    """`template` filled with the choices, under `root`.

    Examples
    --------
    >>> output_path(IMAGE_FEATURES, dataset="demo", image="colorgrid").as_posix()
    'features/demo/image/colorgrid.npy'
    """
    return Path(root) / template.format(**choices)
