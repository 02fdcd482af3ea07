"""The one pass over the pairs: their means and covariances, each side's in one buffer.

With one row of X per image, each image enters Cxx once, weighted by its number of
captions, and Cxy through the sum of its captions' vectors: the same result as stacking
every (image, caption) pair, at a fraction of the cost. The covariances of each side are
accumulated into the lower triangle of one Fortran-ordered n x n float64 buffer (BLAS syrk,
in place: `tie.moments.blas`); the upper triangle stays zero and nothing ever reads it.
Memory: the three covariances plus one chunk, so memory-mapped feature files larger than
RAM can be fitted, and no second matrix of a side's order is ever allocated.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial

import numpy as np
import scipy.linalg

from tie.corpus.pairs import check_image_index
from tie.errors import TieError
from tie.moments.blas import add_gram_lower, add_product
from tie.progress import progress as progress_of

# The unit of every sum of the streaming pass (`covariances`): captions per block, grouped
# by image. Fixed, so that the covariances are the same bits whatever the memory budget,
# the other side's width or the machine: a chunk read at once is a whole number of blocks,
# and each block is added to the sums on its own, in order. 1,024 rows keep the BLAS at
# full speed (its panels are a few hundred rows) and hold one float64 block of an
# 18,000-d Fisher-vector side to 147 MB.
BLOCK_ROWS = 1024
# Memory budget of the caption rows read at once, as stored (a whole number of blocks, at
# least one): reads of 16 MB run at disk speed, and the budget stays small next to the
# covariances of real features (134 MB for a 4,096-d side), whatever the other side. The
# environment variable TIE_CCA_CHUNK_MB sets another (a machine with little memory, and
# the test that the results do not depend on it), read when a pass starts (`chunk_bytes`).
CHUNK_BYTES = 16 * 2**20
CHUNK_MB_ENV = "TIE_CCA_CHUNK_MB"


def chunk_bytes() -> int:
    """The caption rows' memory budget: `TIE_CCA_CHUNK_MB` megabytes if set, else CHUNK_BYTES."""
    value = os.environ.get(CHUNK_MB_ENV)
    if value is None:
        return CHUNK_BYTES
    try:
        megabytes = float(value)
    except ValueError:
        megabytes = 0.0
    if not megabytes > 0:
        raise TieError(f"{CHUNK_MB_ENV}={value!r}: a number of megabytes above 0, e.g. 16")
    return int(megabytes * 2**20)


@dataclass
class Covariances:
    """Means and covariances of paired data: everything a CCA fit needs from the data.

    Covariances are normalised by the number of pairs (not n - 1). `xx` and `yy` are
    symmetric, held as their lower triangles: Fortran-ordered square float64 arrays whose
    upper triangle is zero and never read (`tie.moments.store.symmetric` makes the full
    matrix, for tests and small data).
    """

    x_mean: np.ndarray  # (dx,)
    y_mean: np.ndarray  # (dy,)
    xx: np.ndarray  # (dx, dx), lower triangle
    yy: np.ndarray  # (dy, dy), lower triangle
    xy: np.ndarray  # (dx, dy)
    n_pairs: int

    def lower(self, side: str, out: np.ndarray | None = None) -> np.ndarray:
        """A copy of `xx` or `yy` (lower triangle, Fortran order), into `out` if given."""
        source = getattr(self, side)
        if out is None:
            return np.array(source, order="F")
        out[...] = source
        return out

    def dimension(self, side: str) -> int:
        return len(getattr(self, side))


def covariances(X, Y, image_index=None, chunk_rows=None, block_rows=BLOCK_ROWS) -> Covariances:
    """Means and covariances of the pairs (X[i], Y[i]), or (X[image_index[j]], Y[j]).

    Reads Y chunk by chunk, once (products of the rows shifted by the first block's means,
    corrected for the shift at the end), and with each block of captions the rows of X of
    their images, so X and Y may be feature files larger than
    RAM (`tie.features.store.FeatureRows`, memory-mapped arrays, or any object with `shape`,
    `dtype` and `rows[index] -> ndarray`): neither is ever copied whole. Images without a
    caption in `image_index` take no part and are never read.

    The captions are taken grouped by image (in the order of `image_index`, stably), in
    blocks of `block_rows`; every sum is updated block by block in that order, so the
    result is the same bits whatever `chunk_rows`. Memory, in bytes, beside the
    covariances (8 (dx^2 + dy^2 + dx dy)): `chunk_rows` rows of Y as stored, plus per
    block at most `block_rows` (16 dy + 8 dx) (its float64 rows, its images' caption
    sums and their float64 rows of X).

    Parameters
    ----------
    X, Y, image_index
        As in `tie.joint.cca.CCA.fit`.
    chunk_rows : int, optional
        Rows of Y read at once, rounded down to a whole number of blocks (at least one);
        by default as many as fit in `chunk_bytes()` as stored.
    block_rows : int
        Rows of Y per block of the sums (`BLOCK_ROWS`; tests make it small).
    """
    X = as_matrix(X, "X")
    Y = as_matrix(Y, "Y")
    if image_index is None:
        if len(X) != len(Y):
            raise ValueError(
                f"X and Y must have one row per pair, got {len(X)} and {len(Y)} rows; "
                "if X has one row per image and Y one per caption, pass image_index"
            )
        image_index = np.arange(len(Y))
    else:
        image_index = check_image_index(image_index, n_captions=len(Y), n_images=len(X))
    n_pairs = len(Y)
    if n_pairs < 2:
        raise ValueError(f"CCA needs at least 2 pairs to estimate covariances, got {n_pairs}")
    if chunk_rows is None:
        chunk_rows = chunk_bytes() // (Y.shape[1] * Y.dtype.itemsize)
    chunk_rows = block_rows * max(1, chunk_rows // block_rows)  # whole blocks, at least one
    is_sorted = bool(np.all(image_index[1:] >= image_index[:-1]))
    # Captions grouped by image: slices of Y when already so, gathered rows otherwise.
    order = None if is_sorted else np.argsort(image_index, kind="stable")
    grouped_image = image_index if order is None else image_index[order]
    blocks = partial(_caption_blocks, X, Y, order, grouped_image, chunk_rows, block_rows)

    # One pass, each row centred on a shift, the first block's means (near the means, so
    # nothing large cancels), and the shift's own term taken out at the end:
    # sum (a - s)(b - t)^T / n - (a_mean - s)(b_mean - t)^T is the centred covariance.
    xx = np.zeros((X.shape[1], X.shape[1]), order="F")  # lower triangles, Fortran-ordered
    yy = np.zeros((Y.shape[1], Y.shape[1]), order="F")  # so that BLAS updates them in place
    xy = np.zeros((X.shape[1], Y.shape[1]), order="F")
    x_sum, y_sum = np.zeros(X.shape[1]), np.zeros(Y.shape[1])  # of the shifted rows
    x_shift = y_shift = None
    n_blocks = -(-n_pairs // block_rows)
    progress = progress_of(total=n_blocks, desc="CCA covariances", unit="block")
    for x, y, counts, first in blocks(check=True):
        if y_shift is None:
            y_shift = np.asarray(y, dtype=np.float64).mean(axis=0)
            x_shift = counts @ np.asarray(x, dtype=np.float64) / counts.sum()
        y = np.subtract(y, y_shift, dtype=np.float64)  # shifted float64, in one pass
        x = np.subtract(x, x_shift, dtype=np.float64)
        y_sum += y.sum(axis=0)
        x_sum += counts @ x
        # Row j: the sum of the shifted captions of the block's j-th image.
        caption_sums = np.add.reduceat(y, first, axis=0)
        xy = add_product(xy, x, caption_sums)
        add_gram_lower(yy, y)
        del y, caption_sums
        x *= np.sqrt(counts)[:, None]  # each image counted once per caption of the block
        add_gram_lower(xx, x)
        progress.update()
    progress.close()
    x_offset, y_offset = x_sum / n_pairs, y_sum / n_pairs  # the means minus the shifts
    for matrix in (xx, yy, xy):  # in place: no second matrix of that order
        matrix /= n_pairs
    blas = scipy.linalg.blas
    blas.dsyr(-1.0, x_offset, lower=1, a=xx, overwrite_a=1)
    blas.dsyr(-1.0, y_offset, lower=1, a=yy, overwrite_a=1)
    blas.dger(-1.0, x_offset, y_offset, a=xy, overwrite_a=1)
    return Covariances(
        x_mean=x_shift + x_offset,
        y_mean=y_shift + y_offset,
        xx=xx,
        yy=yy,
        xy=xy,
        n_pairs=n_pairs,
    )


def _caption_blocks(X, Y, order, grouped_image, chunk_rows, block_rows, check):
    """The blocks of the streaming pass: `(x, y, counts, first)` per block of captions.

    `y` holds the block's rows of Y (as stored), `x` the rows of X of its images (each
    once, as stored), `counts` how many of the block's captions each image has, and
    `first` where each image's captions start in `y`. With `check`, non-finite values are
    refused.
    """
    n_pairs = len(grouped_image)
    for chunk_start in range(0, n_pairs, chunk_rows):
        chunk_stop = min(chunk_start + chunk_rows, n_pairs)
        rows = slice(chunk_start, chunk_stop) if order is None else order[chunk_start:chunk_stop]
        chunk = np.asarray(Y[rows])
        for start in range(chunk_start, chunk_stop, block_rows):
            stop = min(start + block_rows, chunk_stop)
            y = chunk[start - chunk_start : stop - chunk_start]
            images, first, counts = np.unique(
                grouped_image[start:stop], return_index=True, return_counts=True
            )
            x = np.asarray(X[images])
            if check:
                check_finite(x, "X")
                check_finite(y, "Y")
            yield x, y, counts.astype(np.float64), first


def as_matrix(values, name):
    """A 2-D numeric matrix, without copying arrays or row sources (they stay on disk).

    A row source is any object with `shape`, `dtype` and `rows[index] -> ndarray`, such
    as `tie.features.store.FeatureRows`.
    """
    is_rows = all(hasattr(values, attribute) for attribute in ("shape", "dtype", "__getitem__"))
    matrix = values if is_rows else np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows x features), got shape {matrix.shape}")
    if not (np.issubdtype(matrix.dtype, np.floating) or np.issubdtype(matrix.dtype, np.integer)):
        raise ValueError(f"{name} must hold numbers, got dtype {matrix.dtype}")
    return matrix


def check_finite(values, name):
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean the features first")
