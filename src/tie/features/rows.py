"""Row-wise operations on feature matrices shared by the text side and the evaluation."""

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
