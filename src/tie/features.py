"""Feature files: a float32 `.npy` matrix and, beside it, the ids of its rows in order.

Stages downstream check the ids against the corpus, so features computed for another
list of images or captions are refused instead of being silently misaligned. Caption
features are in corpus order. Image features are in the order of the image list (the
corpus's images sorted by name, `Corpus.image_list`), the same whichever way the images
are split, so that changing `split` never computes them again: `load_image_features`
gives, beside the matrix, the row of each corpus image.

Both loaders return the matrix as `FeatureRows`: rows read from the file when they are
indexed, not a memory map (caption features stored as compact Fisher vectors come as
`tie.fisher_rows.FisherRows`, which computes them). A pass over a feature file larger
than RAM then holds only the rows it asked for: the file's pages stay in the kernel's
page cache, which the process's resident memory does not count (a memory map's touched
pages would count, up to the whole file).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from tie.errors import TieError
from tie.fisher_rows import FisherRows, is_codes_file


def ids_path(features_path: Path) -> Path:
    return Path(features_path).with_suffix(".ids.txt")


def save_features(path: Path, matrix: np.ndarray, ids: list[str]) -> None:
    if len(ids) != len(matrix):
        raise ValueError(f"{len(ids)} ids for {len(matrix)} feature rows")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.asarray(matrix, dtype=np.float32))
    ids_path(path).write_text("".join(f"{i}\n" for i in ids))


def create_features(path: Path, ids: list[str], n_columns: int) -> np.ndarray:
    """A float32 `.npy` feature file of len(ids) rows, memory-mapped for writing in chunks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    ids_path(path).write_text("".join(f"{i}\n" for i in ids))
    return np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(ids), n_columns))


class FeatureRows:
    """The rows of a 2-D C-ordered `.npy` file, read from disk each time they are indexed.

    `rows[index]` (an int, a slice, or an array of row numbers) is a new in-memory array,
    as indexing a memory map would give; `shape`, `dtype`, `ndim` and `len` are those of
    the stored matrix, and `np.asarray(rows)` reads all of it.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        with self.path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran_order, dtype = read_header(f)
            self._offset = f.tell()
        if len(shape) != 2 or fortran_order or dtype.hasobject:
            raise TieError(
                f"{self.path} is not a feature matrix (a 2-D C-ordered numeric .npy):"
                " re-run `dvc repro` to compute it"
            )
        self.shape, self.dtype, self.ndim = tuple(shape), dtype, 2
        self._row_bytes = shape[1] * dtype.itemsize

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, int | np.integer):
            return self[np.array([index])][0]
        rows = np.arange(self.shape[0])[index]
        out = np.empty((len(rows), self.shape[1]), dtype=self.dtype)
        if len(rows) == 0:
            return out
        # One read per run of consecutive rows (a slice is one run).
        breaks = np.flatnonzero(np.diff(rows) != 1) + 1
        starts = np.concatenate([[0], breaks])
        stops = np.concatenate([breaks, [len(rows)]])
        with self.path.open("rb", buffering=0) as f:
            fd = f.fileno()
            for start, stop in zip(starts.tolist(), stops.tolist(), strict=True):
                target = memoryview(out[start:stop]).cast("B")
                position = self._offset + int(rows[start]) * self._row_bytes
                while len(target):
                    n_read = os.preadv(fd, [target], position)
                    if n_read == 0:
                        raise TieError(f"{self.path} is truncated: re-run `dvc repro`")
                    target, position = target[n_read:], position + n_read
        return out

    def __array__(self, dtype=None, copy=None):
        rows = self[:]
        return rows if dtype is None else rows.astype(dtype, copy=False)


class RowSubset:
    """Rows `rows` of `matrix` (an array or `FeatureRows`), read only when indexed.

    `RowSubset(Y, rows)[i]` is `Y[rows[i]]`: a pass over `Y[rows]` chunk by chunk without
    first copying all of it.
    """

    def __init__(self, matrix, rows):
        self.matrix, self.rows = matrix, np.asarray(rows)
        self.shape, self.dtype, self.ndim = (len(self.rows), matrix.shape[1]), matrix.dtype, 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        return np.asarray(self.matrix[self.rows[index]])

    def __array__(self, dtype=None, copy=None):
        rows = self[:]
        return rows if dtype is None else rows.astype(dtype, copy=False)


def load_features(path: Path, expected_ids: list[str]) -> FeatureRows | FisherRows:
    """The feature rows at `path`, checked against `expected_ids`, read when indexed.

    A dense `.npy` gives `FeatureRows`; Fisher vectors stored in compact form
    (`fisher.store: codes`) give `tie.fisher_rows.FisherRows`, which computes the rows.
    """
    path = Path(path)
    for needed in (path, ids_path(path)):
        if not needed.exists():
            raise TieError(f"{needed} does not exist: run `dvc repro` to compute the features")
    ids = ids_path(path).read_text().splitlines()
    if ids != expected_ids:
        raise TieError(
            f"{path} has rows for a different list of items than the current splits"
            f" ({len(ids)} rows, {len(expected_ids)} expected): re-run `dvc repro`"
        )
    return FisherRows(path) if is_codes_file(path) else FeatureRows(path)


def load_image_features(path: Path, images: list[str]) -> tuple[FeatureRows, np.ndarray]:
    """The image feature matrix at `path` (`FeatureRows`) and the row of each of `images`."""
    path = Path(path)
    for needed in (path, ids_path(path)):
        if not needed.exists():
            raise TieError(f"{needed} does not exist: run `dvc repro` to compute the features")
    row_of = {image: row for row, image in enumerate(ids_path(path).read_text().splitlines())}
    missing = [image for image in images if image not in row_of]
    if missing:
        raise TieError(
            f"{path} has no row for {len(missing)} images of the current splits (e.g. "
            f"{missing[0]}): it was computed for another list of images; re-run `dvc repro`"
        )
    return FeatureRows(path), np.array([row_of[i] for i in images], dtype=np.int64)
