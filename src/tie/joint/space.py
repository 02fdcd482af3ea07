"""Where images and captions are compared: CCA's joint space, or the towers' own space.

`cca.method: cca` (the default) fits CCA on the train split (`tie.joint.cca.CCA`).
`cca.method: none` is the zero-shot row of a model whose image and text towers were
trained together (CLIP, SigLIP): its embeddings are compared as they are, by cosine,
which is the similarity the model itself was trained with. Both are saved to the same
model folder and used by `evaluate` (and `tie search`) the same way: `transform(X, Y)`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tie.joint.cca import CCA, PARAMS_FILE
from tie.recorded import check_recorded, reading

# Caption rows projected at once by `embed`: their float64 copies stay small whatever the
# number of captions or their width (1,024 rows of an 18,000-d Fisher vector: 147 MB).
EMBED_BLOCK_ROWS = 1024


class ZeroShot:
    """The identity map: image and caption embeddings stay in the model's own space.

    An all-zero row stays all-zero (cosine 0 with everything), as CCA keeps it.

    Parameters
    ----------
    dim : int
        The embedding dimension, the same for images and captions.

    Examples
    --------
    >>> import numpy as np
    >>> images, captions = ZeroShot(dim=2).transform(np.eye(2), np.ones((3, 2)))
    >>> captions.shape
    (3, 2)
    """

    method = "none"

    def __init__(self, *, dim: int):
        self.dim = dim

    def transform(self, X, Y=None):
        """The rows as float64, checked to have `dim` columns; (X, Y) when Y is given."""
        X = self._check(X, "image")
        return X if Y is None else (X, self._check(Y, "caption"))

    def transform_captions(self, Y):
        """Captions only (a query): the rows as they are, checked."""
        return self._check(Y, "caption")

    def _check(self, rows, what: str) -> np.ndarray:
        rows = np.asarray(rows, dtype=np.float64)
        if rows.ndim != 2 or rows.shape[1] != self.dim:
            raise ValueError(f"{what} embeddings must have {self.dim} columns, got {rows.shape}")
        return rows

    def save(self, directory) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        summary = {"method": self.method, "dim": self.dim}
        (directory / PARAMS_FILE).write_text(json.dumps(summary, indent=2) + "\n")


def embed(model, X, Y):
    """`model.transform(X, Y)`, with the captions Y read and projected block by block.

    Y may be a row source (`tie.features.store.FeatureRows`, `RowSubset`): only a block of its
    rows is in memory at a time, beside the embeddings.
    """
    images = model.transform(np.asarray(X))
    blocks = [
        model.transform_captions(np.asarray(Y[start : start + EMBED_BLOCK_ROWS]))
        for start in range(0, len(Y), EMBED_BLOCK_ROWS)
    ]
    if not blocks:
        return images, model.transform_captions(np.zeros((0, Y.shape[1])))
    return images, np.concatenate(blocks)


def load_joint_model(directory):
    """The model the cca stage saved in `directory`: a `CCA` or a `ZeroShot`."""
    check_recorded(directory)
    summary_file = Path(directory) / PARAMS_FILE
    with reading(directory):
        if summary_file.exists():
            summary = json.loads(summary_file.read_text())
            if summary.get("method") == ZeroShot.method:
                return ZeroShot(dim=summary["dim"])
        return CCA.load(directory)
