"""Fisher-vector features in compact form, expanded into dense rows where they are read.

The Fisher vector of a caption is the mean of its words' codes (`tie.text.fisher_vectors`),
then (`normalize`) a signed square root and an L2 normalisation of each mixture's part:
`dense = improve(captions @ codes)`, with `captions` the sparse (captions x words) matrix
of word frequencies and `codes` the sparse (words x features) codes of the words the
captions use. Both are small (COCO with Klein et al.'s 18,000-d setting: well under 1 GB,
against 44 GB of dense float32 rows), so with `fisher.store: codes` the `text_features`
stage writes them instead of the dense rows, and every reader (`tie.features.store.load_features`:
the `cca` and `evaluate` stages, `tie search`, the Ray engine's driver) gets a
`FisherRows`, which computes the rows it is asked for, a block of captions at a time.
Row for row, it computes what the dense path writes, in the same float32 operations, so
the rows are the same bytes (tested).

The file keeps the feature file's name (`<text>-fisher.npy`, the path every stage and
dvc.yaml spell) but holds a NumPy `.npz` archive: `np.load` gives its arrays, and
`load_features` tells the two forms apart by their first bytes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.sparse

from tie.errors import TieError
from tie.features.rows import RowReader

# Captions expanded at once: their dense rows and temporaries stay small (float32, ~10 MB
# at 18,000-d). Ray chunks of captions are whole blocks (tie.text.ray).
CAPTION_BLOCK = 128
FORMAT = "tie-fisher-codes-1"
_ZIP_MAGIC = b"PK\x03\x04"


def improve(fisher_vectors: np.ndarray) -> np.ndarray:
    """Signed square root, then L2 normalisation of each row (zero rows stay zero), in place."""
    magnitude = np.sqrt(np.abs(fisher_vectors))
    np.copysign(magnitude, fisher_vectors, out=fisher_vectors)
    norms = np.sqrt(np.einsum("ij,ij->i", fisher_vectors, fisher_vectors))[:, None]
    np.divide(fisher_vectors, norms, out=fisher_vectors, where=norms > 0)
    return fisher_vectors


def expand(captions, codes, part: int, normalize: bool, out=None) -> np.ndarray:
    """The dense float32 rows `improve(captions @ codes)`, block by block into `out`.

    Parameters
    ----------
    captions : scipy.sparse.csr_matrix, float32, (n_captions, n_words)
        Each caption's word frequencies.
    codes : scipy.sparse.csr_matrix, float32, (n_words, n_features)
        The words' codes, every mixture's side by side.
    part : int
        Features per mixture (2 K D): `normalize` improves each part on its own.
    normalize : bool
        Apply the signed square root and L2 normalisation.
    out : array of shape (n_captions, n_features), optional
        Receives the rows (e.g. a memory-mapped `.npy`); a new array by default.
    """
    if out is None:
        out = np.empty((captions.shape[0], codes.shape[1]), dtype=np.float32)
    for start in range(0, len(out), CAPTION_BLOCK):
        block = out[start : start + CAPTION_BLOCK]
        block[:] = 0
        (captions[start : start + CAPTION_BLOCK] @ codes).toarray(out=block)
        if normalize:  # dense: faster than on the sparse FVs (fewer, simpler passes)
            for column in range(0, block.shape[1], part):
                improve(block[:, column : column + part])
    return out


def save_codes(path: Path, captions, codes, part: int, normalize: bool) -> None:
    """Write the compact form to `path` (its name kept as given)."""
    captions = scipy.sparse.csr_matrix(captions, dtype=np.float32)
    codes = scipy.sparse.csr_matrix(codes, dtype=np.float32)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:  # a file object: np.savez adds no `.npz` to the name
        np.savez(
            f,
            format=np.array(FORMAT),
            part=np.array(part),
            normalize=np.array(normalize),
            **_sparse_arrays("captions", captions),
            **_sparse_arrays("codes", codes),
        )


def is_codes_file(path: Path) -> bool:
    """Whether `path` holds the compact form (an archive), not a dense `.npy`."""
    with Path(path).open("rb") as f:
        return f.read(len(_ZIP_MAGIC)) == _ZIP_MAGIC


class FisherRows(RowReader):
    """The dense Fisher vectors of a compact file, computed when they are indexed.

    A row source as `tie.features.store.FeatureRows` is: `shape`, `dtype` (float32), `len`, and
    `rows[index]` (an int, a slice, an array of rows) a new array of those captions' FVs.
    Memory: the compact form, plus the rows asked for.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        with np.load(self.path) as arrays:
            if "format" not in arrays or str(arrays["format"]) != FORMAT:
                raise TieError(
                    f"{self.path} is an archive but not compact Fisher vectors ({FORMAT}):"
                    " re-run `dvc repro text_features` to write it again"
                )
            self.part, self.normalize = int(arrays["part"]), bool(arrays["normalize"])
            self.captions = _sparse_matrix(arrays, "captions")
            self.codes = _sparse_matrix(arrays, "codes")
        self.shape = (self.captions.shape[0], self.codes.shape[1])
        self.dtype = np.dtype(np.float32)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        return expand(self.captions[rows], self.codes, self.part, self.normalize)


def _sparse_arrays(name: str, matrix) -> dict:
    return {
        f"{name}_data": matrix.data,
        f"{name}_indices": matrix.indices,
        f"{name}_indptr": matrix.indptr,
        f"{name}_shape": np.array(matrix.shape),
    }


def _sparse_matrix(arrays, name: str) -> scipy.sparse.csr_matrix:
    parts = (arrays[f"{name}_{key}"] for key in ("data", "indices", "indptr"))
    return scipy.sparse.csr_matrix(tuple(parts), shape=tuple(arrays[f"{name}_shape"]))
