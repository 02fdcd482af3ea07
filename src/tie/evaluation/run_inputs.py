"""The data a run saw, as MLflow inputs: its train, val and test corpora (`mlflow.log_input`).

Each split is one MLflow dataset, named `<dataset>/<split>`, logged with the split as its
context. Its source is the raw folder, by its path in the repository (`data/raw/<dataset>`),
and its digest comes from that folder's manifest (every file's name, size and MD5,
written by the `data` stage) and the split's image names: the same files split the same
way give the same digest on any machine. Its profile counts the split's captions (rows);
tags add the numbers of images and captions. No row of the data is stored in MLflow, only
its schema (`image`, `caption`).
"""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path

from tie.config.registry import SPLITS

DIGEST_CHARS = 32  # MLflow keeps at most 36


def split_digest(manifest_file: Path, split: str, image_names: list[str]) -> str:
    """The manifest's bytes, the split's name and its images' names, hashed."""
    digest = hashlib.sha256(Path(manifest_file).read_bytes())
    digest.update(f"\n{split}\n".encode())
    digest.update("\n".join(image_names).encode())
    return digest.hexdigest()[:DIGEST_CHARS]


def log_split_datasets(corpus, dataset: str, manifest_file: Path) -> None:
    """Log every split of `corpus` as an input of the active MLflow run."""
    import mlflow
    import pandas as pd
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    with warnings.catch_warnings():  # a path reads as several kinds of local source
        warnings.simplefilter("ignore")
        source = resolve_dataset_source(f"data/raw/{dataset}")
    for split in SPLITS:
        view = corpus.split_view(split)
        images = [corpus.images[r] for r in view.image_rows]
        table = pd.DataFrame(
            {
                "image": [images[i] for i in view.caption_image_index],
                "caption": [corpus.flat_captions[r] for r in view.caption_rows],
            }
        )
        logged = mlflow.data.from_pandas(
            table,
            source=source,
            name=f"{dataset}/{split}",
            digest=split_digest(manifest_file, split, images),
        )
        tags = {"images": str(len(images)), "captions": str(len(table))}
        mlflow.log_input(logged, context=split, tags=tags)
