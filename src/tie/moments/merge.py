"""Moments of chunks of pairs that combine exactly: for chunks summarised elsewhere (Ray).

The count, the means, and the centred co-moments: sums of products of deviations from a
chunk's own means, not yet divided by the count. Two sets' moments merge by the pairwise
update of Chan, Golub and LeVeque (`combine_moments`), so chunks of rows can be summarised
anywhere (other processes, other machines) and combined on the driver into the same
covariances as one pass over all the rows, to rounding. As in `tie.moments.stream`, each
side's co-moment is the lower triangle of one Fortran-ordered buffer, updated in place.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from tie.corpus.pairs import check_image_index
from tie.moments.stream import Covariances, as_matrix, check_finite, covariances


@dataclass
class Moments:
    """Sufficient statistics of a set of pairs in a form that merges exactly."""

    n_pairs: int
    x_mean: np.ndarray  # (dx,)
    y_mean: np.ndarray  # (dy,)
    xx: np.ndarray  # (dx, dx), lower triangle, Fortran order
    yy: np.ndarray  # (dy, dy), lower triangle, Fortran order
    xy: np.ndarray  # (dx, dy), Fortran order

    @classmethod
    def empty(cls, dx: int, dy: int) -> Moments:
        def zeros(shape):
            return np.zeros(shape, order="F")

        return cls(0, zeros(dx), zeros(dy), zeros((dx, dx)), zeros((dy, dy)), zeros((dx, dy)))

    def covariances(self) -> Covariances:
        """The covariances these moments describe, normalised by the number of pairs in place
        (the moments are spent)."""
        if self.n_pairs < 2:
            raise ValueError(
                f"CCA needs at least 2 pairs to estimate covariances, got {self.n_pairs}"
            )
        for matrix in (self.xx, self.yy, self.xy):
            matrix /= self.n_pairs
        return Covariances(self.x_mean, self.y_mean, self.xx, self.yy, self.xy, self.n_pairs)


def chunk_moments(X, Y, image_index=None) -> Moments:
    """The `Moments` of the pairs of one chunk (arguments as in `covariances`)."""
    X = as_matrix(X, "X")
    Y = as_matrix(Y, "Y")
    n = len(Y)
    if n >= 2:
        cov = covariances(X, Y, image_index)
        for matrix in (cov.xx, cov.yy, cov.xy):
            matrix *= n
        return Moments(n, cov.x_mean, cov.y_mean, cov.xx, cov.yy, cov.xy)
    moments = Moments.empty(X.shape[1], Y.shape[1])
    if n == 1:  # one pair: its own mean, no spread
        row = 0 if image_index is None else int(check_image_index(image_index, 1, len(X))[0])
        moments.n_pairs = 1
        moments.x_mean = _float64_row(X, row, "X")
        moments.y_mean = _float64_row(Y, 0, "Y")
    return moments


def combine_moments(total: Moments, part: Moments) -> Moments:
    """Add `part` (a disjoint set of pairs) into `total`, in place (Chan, Golub, LeVeque 1979).

    With delta the difference of the two means, the co-moment of the union is
    M_a + M_b + (n_a n_b / n) delta_x delta_y^T: exact in exact arithmetic, and stable,
    since it never subtracts large uncentred sums. `total`'s arrays must be writable
    (`Moments.empty` to start); `part`'s are only read. Returns `total`.
    """
    if part.n_pairs == 0:
        return total
    n = total.n_pairs + part.n_pairs
    dx = part.x_mean - total.x_mean
    dy = part.y_mean - total.y_mean
    weight = total.n_pairs * part.n_pairs / n
    total.x_mean = total.x_mean + dx * (part.n_pairs / n)
    total.y_mean = total.y_mean + dy * (part.n_pairs / n)
    total.xx += part.xx
    total.yy += part.yy
    total.xy += part.xy
    if weight:
        blas = scipy.linalg.blas
        blas.dsyr(weight, dx, lower=1, a=total.xx, overwrite_a=1)  # lower triangles only
        blas.dsyr(weight, dy, lower=1, a=total.yy, overwrite_a=1)
        blas.dger(weight, dx, dy, a=total.xy, overwrite_a=1)
    total.n_pairs = n
    return total


def image_chunks(n_images: int, image_index, chunk_rows: int):
    """Chunks of image rows with their captions: `(rows, caption_positions, local_index)`.

    `rows` is a slice of X, `caption_positions` the rows of Y whose image is in it, and
    `local_index` their image's row within the chunk; `image_index=None` pairs row i with
    row i. The partials of these chunks (`chunk_moments`) combine into the moments of all.
    """
    if image_index is None:
        for start, stop in _chunks(n_images, chunk_rows):
            yield slice(start, stop), np.arange(start, stop), None
        return
    image_index = check_image_index(image_index, n_captions=len(image_index), n_images=n_images)
    order = np.argsort(image_index, kind="stable")
    first_caption = np.searchsorted(image_index[order], np.arange(n_images + 1))
    for start, stop in _chunks(n_images, chunk_rows):
        positions = order[first_caption[start] : first_caption[stop]]
        yield slice(start, stop), positions, image_index[positions] - start


def _chunks(n_rows, chunk_rows):
    return [(start, min(start + chunk_rows, n_rows)) for start in range(0, n_rows, chunk_rows)]


def _float64_row(matrix, row, name):
    values = np.asarray(matrix[row], dtype=np.float64)
    check_finite(values, name)
    return values
