"""Row-wise operations on feature matrices: unit L2 rows, and matrices read by rows."""

from __future__ import annotations

import numpy as np


def unit_rows(matrix) -> np.ndarray:
    """The rows scaled to unit L2 norm, in float64; a zero row stays zero.

    Examples
    --------
    >>> unit_rows([[3.0, 4.0], [0.0, 0.0]]).tolist()
    [[0.6, 0.8], [0.0, 0.0]]
    """
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


class RowReader:
    """A (n, d) matrix whose rows are read when indexed, never held whole.

    `reader[index]` (an int, a slice, or an array of row numbers) is a new in-memory array,
    as indexing a memory map would give; `shape`, `dtype`, `ndim` and `len` are those of
    the matrix, and `np.asarray(reader)` reads all of it. A subclass sets `shape` and
    `dtype` and reads the rows of an array of row numbers in `_read`.
    """

    shape: tuple[int, int]
    dtype: np.dtype
    ndim = 2

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, index) -> np.ndarray:
        if isinstance(index, int | np.integer):
            return self[np.array([index])][0]
        return self._read(np.arange(self.shape[0])[index])

    def __array__(self, dtype=None, copy=None):
        rows = self[:]
        return rows if dtype is None else rows.astype(dtype, copy=False)

    def _read(self, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError
