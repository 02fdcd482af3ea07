"""tie.features.rows (unit rows, matrices read by rows) and tie.corpus.pairs (the index that
pairs caption rows with image rows)."""

import numpy as np
import pytest

from tie.corpus.pairs import check_image_index
from tie.features.rows import RowReader, unit_rows


class Squares(RowReader):
    """Row i is [i, i*i], computed when read; the rows asked for are recorded."""

    def __init__(self, n):
        self.shape, self.dtype, self.asked = (n, 2), np.dtype(np.float64), []

    def _read(self, rows):
        self.asked.append(rows.tolist())
        return np.stack([rows, rows * rows], axis=1).astype(self.dtype)


def test_unit_rows_keep_a_zero_row_zero():
    rows = unit_rows(np.array([[3, 4], [0, 0], [-1e-30, 0]], dtype=np.float32))
    assert rows.dtype == np.float64
    np.testing.assert_array_equal(rows, [[0.6, 0.8], [0.0, 0.0], [-1.0, 0.0]])


def test_a_row_reader_reads_only_the_rows_indexed():
    matrix = Squares(5)
    assert len(matrix) == 5 and matrix.ndim == 2
    np.testing.assert_array_equal(matrix[3], [3, 9])
    np.testing.assert_array_equal(matrix[1:3], [[1, 1], [2, 4]])
    np.testing.assert_array_equal(matrix[np.array([4, 0])], [[4, 16], [0, 0]])
    assert matrix.asked == [[3], [1, 2], [4, 0]]
    whole = np.asarray(matrix, dtype=np.float32)
    assert whole.dtype == np.float32 and whole.shape == (5, 2)


@pytest.mark.parametrize(
    "index, says",
    [
        (np.array([0.0, 1.0]), "must be a 1-D integer array"),
        (np.array([[0, 1]]), "must be a 1-D integer array"),
        (np.array([0]), "has 1 entries but there are 2 captions"),
        (np.array([0, 3]), "values must be image rows in 0..2, got values in 0..3"),
        (np.array([-1, 0]), "values must be image rows in 0..2"),
    ],
)
def test_an_image_index_that_pairs_nothing_is_refused_naming_it(index, says):
    with pytest.raises(ValueError, match=f"^caption_image_index {says}"):
        check_image_index(index, n_captions=2, n_images=3, name="caption_image_index")


def test_a_good_image_index_comes_back_as_an_array():
    index = check_image_index([0, 0, 2], n_captions=3, n_images=3)
    assert isinstance(index, np.ndarray) and index.tolist() == [0, 0, 2]
    assert check_image_index(np.zeros(0, dtype=int), n_captions=0, n_images=0).size == 0
