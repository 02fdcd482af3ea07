"""Where the pipeline writes each output: the one place these paths are spelled out.

Paths carry the choices (`dataset`, `image`, `text`, the pooling), so the results of
different choices sit side by side in the workspace. `dvc.yaml` writes the same
templates with `${...}` and hands each stage its paths on the command line
(tests/test_paths.py checks both agree); `tie fetch`, `tie search`, examples/library.py
and the tests use these.
"""

from __future__ import annotations

from pathlib import Path

DOWNLOADS = "data/downloads"  # real datasets' archives, kept between runs (not an output)
RAW = "data/raw/{dataset}"
RAW_IMAGES = "data/raw/{dataset}/images"  # every dataset's images, inside its raw folder
# The raw folder's files, sizes and MD5s (tie.datasets.manifest): the dep of the stages that read
# the folder's captions or a few of its images, instead of the whole folder.
RAW_MANIFEST = "data/raw/{dataset}/manifest.json"
SPLITS_FILE = "data/splits/{dataset}.json"
IMAGE_LIST = "data/splits/{dataset}.images.txt"  # the images, by name: what image_features reads
CUSTOM_EXAMPLE = "data/custom-example"  # the default `custom` folder (stage custom_example)
IMAGE_FEATURES = "features/{dataset}/image/{image}.npy"
IMAGE_IDS = "features/{dataset}/image/{image}.ids.txt"
IMAGE_REPORT = "features/{dataset}/image/{image}.report.json"
VOCAB = "features/{dataset}/vocab/{text}.npz"
# The Fisher-vector encoder (a note with mean pooling), fitted from section `fisher`.
MIXTURE_DIR = "models/{dataset}/mixture/{text}-{caption_vectors.pooling}"
TEXT_FEATURES = "features/{dataset}/text/{text}-{caption_vectors.pooling}.npy"
TEXT_IDS = "features/{dataset}/text/{text}-{caption_vectors.pooling}.ids.txt"
TEXT_COVERAGE = "features/{dataset}/text/{text}-{caption_vectors.pooling}.coverage.json"
# The train pairs' moments (tie.moments.store): what `cca` solves from, for any `cca` param.
MOMENTS_DIR = "features/{dataset}/moments/{image}-{text}-{caption_vectors.pooling}"
MODEL_DIR = "models/{dataset}/{image}-{text}"
CCA_GRID = "metrics/cca_grid.csv"
CCA_SELECTION = "metrics/cca_selection.json"
RETRIEVAL = "metrics/retrieval.json"
SCORING_SELECTION = "metrics/scoring_selection.json"  # eval.scoring's params chosen on val
RECALL_CURVES = "metrics/recall_at_k.csv"
RANKS = "metrics/ranks.csv"  # every test query's rank, both directions (tie.evaluation.query_ranks)
GALLERY = "metrics/gallery.png"


def output_path(template: str, root: Path | str = ".", **choices: str) -> Path:
    """`template` filled with the choices, under `root`.

    Examples
    --------
    >>> output_path(IMAGE_FEATURES, dataset="demo", image="colorgrid").as_posix()
    'features/demo/image/colorgrid.npy'
    """
    return Path(root) / template.format(**choices)


def path_choices(params) -> dict:
    """The choices the templates name, from the typed params (`tie.config.params`): a
    section as itself, so that `{caption_vectors.pooling}` reads
    `params.caption_vectors.pooling`, as dvc.yaml's ${caption_vectors.pooling}."""
    return {
        "dataset": params.dataset,
        "text": params.text,
        "image": params.image,
        "caption_vectors": params.caption_vectors,
    }
