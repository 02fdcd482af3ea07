"""Canonical correlation analysis (CCA) between image and caption features, in closed form.

CCA finds directions `x_weights_` and `y_weights_` such that the projections of paired
rows of X and Y are maximally correlated, component after component, and uncorrelated
across components. Images and captions projected this way live in one space where they
can be compared by cosine similarity (Gong et al. 2014; Klein et al. CVPR 2015).

The solution is computed directly, in float64:

1. stream over chunks of rows, twice: the means, then the centred covariances Cxx, Cyy
   and the cross-covariance Cxy (`covariances`). With one row of X per image, each image
   enters Cxx once, weighted by its number of captions, and Cxy through the sum of its
   captions' vectors: the same result as stacking every (image, caption) pair, at a
   fraction of the cost. Memory: the three covariances plus one chunk, so memory-mapped
   feature files larger than RAM can be fitted;
2. add a ridge to each view's covariance, `reg` times its largest eigenvalue (found by
   Lanczos iterations, not a full eigendecomposition), so that the same `reg` means the
   same amount of regularisation whatever the scale of the features;
3. whiten with Cholesky factors, Cxx = Lx Lx^T and Cyy = Ly Ly^T;
4. take the SVD of the whitened cross-covariance W = Lx^-1 Cxy Ly^-T = U S V^T: the
   singular values are the canonical correlations, and Lx^-T U, Ly^-T V the canonical
   directions. Only the top `n_components` are needed, so they come from the symmetric
   eigenproblem of the smaller of W W^T and W^T W (the textbook CCA eigenproblem), solved
   for those eigenpairs only: at a 2,250-d text side a full SVD of W took 10.2 s, this
   1.0 s (docs/fisher.md). Every smaller number of components is a truncation of
   this one fit (`CCA.truncated`).

The same inputs give the same files on any machine (`save`): each component's sign
follows a fixed convention (`_sign_convention`), and the arrays are stored at a precision
far above the last-bit differences of float64 BLAS kernels, thread counts and chunk sizes
(`tie.features.precision`).
"""

from __future__ import annotations

import json
import os
import warnings
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.sparse.linalg
from threadpoolctl import threadpool_limits
from tqdm import tqdm

from tie.config.registry import CCA_PARAM_CONSTRAINTS
from tie.corpus.pairs import check_image_index
from tie.errors import TieError
from tie.features.precision import stored_precision

ARRAYS_FILE = "cca.npz"
PARAMS_FILE = "cca.json"
# What `fit` learns, with the axis that runs over components (None: not per component).
# `save`, `load` and `truncated` all follow this one list.
FITTED_ATTRIBUTES = (
    ("x_mean_", None),
    ("y_mean_", None),
    ("x_weights_", 1),
    ("y_weights_", 1),
    ("correlations_", 0),
)

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
# the test that the saved model does not depend on it), read when a fit starts
# (`chunk_bytes`).
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


# Up to this dimension the largest eigenvalue comes from LAPACK directly; above, from a few
# Lanczos iterations (ARPACK), which cost O(d^2) each instead of O(d^3) for the LAPACK path.
_LANCZOS_MIN_DIMENSION = 256
# OpenBLAS's multithreaded dsyrk crashes (segmentation fault) on matrices of order 16,000
# and more with its SkylakeX kernels, the ones it picks on AVX-512 CPUs (measured with the
# 0.3.30 in scipy's wheels and the 0.3.31 in numpy's); dpotrf (Cholesky) calls it too. Above
# this order the streaming Gram update goes by column blocks through gemm (still threaded)
# and a Cholesky runs on one BLAS thread: only a Fisher-vector text side is that large.
_THREADED_SYRK_MAX_ORDER = 15_000
# Columns per block of that blocked Gram update: its diagonal blocks are computed whole,
# so the extra work is about block / order (11% at 18,000).
_GRAM_BLOCK = 2048


@dataclass
class Covariances:
    """Means and covariances of paired data: everything a CCA fit needs from the data.

    Covariances are normalised by the number of pairs (not n - 1).
    """

    x_mean: np.ndarray  # (dx,)
    y_mean: np.ndarray  # (dy,)
    xx: np.ndarray  # (dx, dx)
    yy: np.ndarray  # (dy, dy)
    xy: np.ndarray  # (dx, dy)
    n_pairs: int


def covariances(X, Y, image_index=None, chunk_rows=None, block_rows=BLOCK_ROWS):
    """Means and covariances of the pairs (X[i], Y[i]), or (X[image_index[j]], Y[j]).

    Reads Y chunk by chunk, twice (means, then centred products), and with each block of
    captions the rows of X of their images, so X and Y may be feature files larger than
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
        As in `CCA.fit`.
    chunk_rows : int, optional
        Rows of Y read at once, rounded down to a whole number of blocks (at least one);
        by default as many as fit in `chunk_bytes()` as stored.
    block_rows : int
        Rows of Y per block of the sums (`BLOCK_ROWS`; tests make it small).
    """
    X = _as_matrix(X, "X")
    Y = _as_matrix(Y, "Y")
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

    x_sum, y_sum = np.zeros(X.shape[1]), np.zeros(Y.shape[1])
    for x, y, counts, _ in blocks(check=True):
        x_sum += counts @ np.asarray(x, dtype=np.float64)
        y_sum += np.asarray(y, dtype=np.float64).sum(axis=0)
    x_mean, y_mean = x_sum / n_pairs, y_sum / n_pairs

    # Lower triangles, Fortran-ordered so that BLAS syrk accumulates into them in place.
    xx = np.zeros((X.shape[1], X.shape[1]), order="F")
    yy = np.zeros((Y.shape[1], Y.shape[1]), order="F")
    xy = np.zeros((X.shape[1], Y.shape[1]), order="F")
    n_blocks = -(-n_pairs // block_rows)
    progress = tqdm(total=n_blocks, desc="CCA covariances", unit="block", disable=None)
    for x, y, counts, first in blocks(check=False):
        y = np.subtract(y, y_mean, dtype=np.float64)  # centred float64, in one pass
        x = np.subtract(x, x_mean, dtype=np.float64)
        # Row j: the sum of the centred captions of the block's j-th image.
        caption_sums = np.add.reduceat(y, first, axis=0)
        xy = _add_product(xy, x, caption_sums)
        yy = _add_gram(yy, y)
        del y, caption_sums
        x *= np.sqrt(counts)[:, None]  # each image counted once per caption of the block
        xx = _add_gram(xx, x)
        progress.update()
    progress.close()
    xy /= n_pairs
    return Covariances(
        x_mean=x_mean,
        y_mean=y_mean,
        xx=_symmetric_from_lower(xx, n_pairs),
        yy=_symmetric_from_lower(yy, n_pairs),
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
                _check_finite(x, "X")
                _check_finite(y, "Y")
            yield x, y, counts.astype(np.float64), first


@dataclass
class Moments:
    """Sufficient statistics of a set of pairs in a form that merges exactly.

    The count, the means, and the centred co-moments: sums of products of deviations from
    this set's own means, not yet divided by the count. Two sets' moments merge by the
    pairwise update of Chan, Golub and LeVeque (`combine_moments`), so chunks of rows can be
    summarised anywhere (other processes, other machines) and combined on the driver into
    the same covariances as one pass over all the rows, to rounding.
    """

    n_pairs: int
    x_mean: np.ndarray  # (dx,)
    y_mean: np.ndarray  # (dy,)
    xx: np.ndarray  # (dx, dx)
    yy: np.ndarray  # (dy, dy)
    xy: np.ndarray  # (dx, dy)

    @classmethod
    def empty(cls, dx: int, dy: int) -> Moments:
        zeros = np.zeros
        return cls(0, zeros(dx), zeros(dy), zeros((dx, dx)), zeros((dy, dy)), zeros((dx, dy)))

    def covariances(self) -> Covariances:
        """The covariances (normalised by the number of pairs) these moments describe."""
        if self.n_pairs < 2:
            raise ValueError(
                f"CCA needs at least 2 pairs to estimate covariances, got {self.n_pairs}"
            )
        n = self.n_pairs
        return Covariances(self.x_mean, self.y_mean, self.xx / n, self.yy / n, self.xy / n, n)


def chunk_moments(X, Y, image_index=None) -> Moments:
    """The `Moments` of the pairs of one chunk (arguments as in `covariances`)."""
    X = _as_matrix(X, "X")
    Y = _as_matrix(Y, "Y")
    n = len(Y)
    if n >= 2:
        cov = covariances(X, Y, image_index)
        return Moments(n, cov.x_mean, cov.y_mean, cov.xx * n, cov.yy * n, cov.xy * n)
    moments = Moments.empty(X.shape[1], Y.shape[1])
    if n == 1:  # one pair: its own mean, no spread
        row = 0 if image_index is None else int(check_image_index(image_index, 1, len(X))[0])
        moments.n_pairs = 1
        moments.x_mean = _float64_chunk(X, row, "X")
        moments.y_mean = _float64_chunk(Y, 0, "Y")
    return moments


def combine_moments(a: Moments, b: Moments) -> Moments:
    """The moments of the union of two disjoint sets of pairs (Chan, Golub, LeVeque 1979).

    With delta the difference of the two means, the co-moment of the union is
    M_a + M_b + (n_a n_b / n) delta_x delta_y^T: exact in exact arithmetic, and stable,
    since it never subtracts large uncentred sums.
    """
    if a.n_pairs == 0:
        return b
    if b.n_pairs == 0:
        return a
    n = a.n_pairs + b.n_pairs
    dx = b.x_mean - a.x_mean
    dy = b.y_mean - a.y_mean
    weight = a.n_pairs * b.n_pairs / n
    return Moments(
        n_pairs=n,
        x_mean=a.x_mean + dx * (b.n_pairs / n),
        y_mean=a.y_mean + dy * (b.n_pairs / n),
        xx=a.xx + b.xx + weight * np.outer(dx, dx),
        yy=a.yy + b.yy + weight * np.outer(dy, dy),
        xy=a.xy + b.xy + weight * np.outer(dx, dy),
    )


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


class CCA:
    """Regularised CCA, fitted in closed form.

    Parameters
    ----------
    n_components : int, default=128
        Number of canonical components to keep, at most min(dx, dy).
    reg : float, default=1e-3
        Ridge added to each view's covariance, relative to its largest eigenvalue:
        Cxx + reg * lambda_max(Cxx) * I. 0 means no ridge, which needs full-rank
        covariances.
    scale_power : float, default=1.0
        `transform` multiplies each component by its canonical correlation to this
        power, so that strongly correlated components weigh more in cosine similarity
        (Gong et al. 2014 use 4; 0 leaves the components unscaled).

    Attributes
    ----------
    x_mean_, y_mean_ : ndarray of shape (dx,), (dy,)
        Feature means of each view, subtracted before projecting.
    x_weights_, y_weights_ : ndarray of shape (dx, n_components), (dy, n_components)
        Canonical directions: projected training data have unit variance per component.
    correlations_ : ndarray of shape (n_components,)
        Canonical correlations of the regularised problem, in descending order.

    Examples
    --------
    >>> import numpy as np
    >>> from tie.joint.cca import CCA
    >>> rng = np.random.default_rng(0)
    >>> shared = rng.standard_normal((500, 2))
    >>> X = np.hstack([shared, rng.standard_normal((500, 3))])
    >>> Y = np.hstack([shared + 0.1 * rng.standard_normal((500, 2)), rng.standard_normal((500, 2))])
    >>> model = CCA(n_components=2, reg=1e-3).fit(X, Y)
    >>> model.correlations_.round(2)
    array([0.99, 0.99])
    >>> images, captions = model.transform(X[:3], Y[:3])
    >>> images.shape
    (3, 2)
    """

    def __init__(self, *, n_components=128, reg=1e-3, scale_power=1.0):
        self.n_components = n_components
        self.reg = reg
        self.scale_power = scale_power

    def fit(self, X, Y, image_index=None):
        """Fit the canonical directions.

        Parameters
        ----------
        X : array-like of shape (n, dx)
            Image features. Without `image_index`, row i is paired with row i of Y.
            May be a memory-mapped array: it is read in chunks, never copied whole.
        Y : array-like of shape (n_captions, dy)
            Caption features (may be memory-mapped too).
        image_index : array-like of int, shape (n_captions,), optional
            For every row of Y, the row of X it belongs to: X then holds one row per image
            and Y one row per caption. The result is exactly the fit on the stacked pairs
            (X[image_index], Y), computed without building that matrix: each image is
            weighted by its number of captions, and images without captions take no part.

        Returns
        -------
        self
        """
        X = _as_matrix(X, "X")
        Y = _as_matrix(Y, "Y")
        self.check_params(X.shape[1], Y.shape[1])
        self.fit_covariances(covariances(X, Y, image_index))
        n_images = len(X) if image_index is None else len(np.unique(image_index))
        if (degenerate := degenerate_fit(self.n_components, n_images)) is not None:
            warnings.warn(f"CCA {degenerate}", stacklevel=2)
        return self

    def fit_covariances(self, cov):
        """Fit from `covariances(X, Y, ...)`, computed once for several fits (grid search)."""
        dx, dy = len(cov.x_mean), len(cov.y_mean)
        self.check_params(dx, dy)
        chol_x = _regularised_cholesky(cov.xx, self.reg, "X")
        chol_y = _regularised_cholesky(cov.yy, self.reg, "Y")
        # Lx^-1 Cxy Ly^-T, by two triangular solves.
        left = scipy.linalg.solve_triangular(chol_x, cov.xy, lower=True)
        whitened = scipy.linalg.solve_triangular(chol_y, left.T, lower=True).T
        u, s, v = _sign_convention(*_top_singular_triplets(whitened, self.n_components))

        self.x_mean_ = cov.x_mean
        self.y_mean_ = cov.y_mean
        self.x_weights_ = scipy.linalg.solve_triangular(chol_x, u, lower=True, trans="T")
        self.y_weights_ = scipy.linalg.solve_triangular(chol_y, v, lower=True, trans="T")
        self.correlations_ = s
        return self

    def truncated(self, n_components, scale_power=None):
        """A copy keeping only the first `n_components` components (and another scale_power).

        All components come from one SVD, so this equals a fit with that n_components,
        without refitting: a grid search over n_components fits once per reg.
        """
        self._check_fitted()
        available = len(self.correlations_)
        if not (isinstance(n_components, int | np.integer) and 1 <= n_components <= available):
            raise ValueError(
                f"n_components must be an integer in 1..{available} (the components of this "
                f"model), got {n_components!r}"
            )
        model = CCA(
            n_components=int(n_components),
            reg=self.reg,
            scale_power=self.scale_power if scale_power is None else scale_power,
        )
        for name, component_axis in FITTED_ATTRIBUTES:
            value = getattr(self, name)
            if component_axis is not None:
                value = value[(slice(None),) * component_axis + (slice(n_components),)]
            setattr(model, name, value)
        return model

    def transform(self, X, Y=None):
        """Project images (and captions, if Y is given) into the joint space.

        Each component is multiplied by `correlations_ ** scale_power`. Returns the image
        embeddings, or a tuple (image_embeddings, caption_embeddings) when Y is given.

        An all-zero input row means "no information" (an unreadable image, a caption with
        no known word) and is mapped to an all-zero row: centring alone would send every
        such row to the same vector, minus the projected mean, which has a cosine of its
        own with every candidate. A zero row has cosine 0 with everything, so the tie rule
        ranks it last. Every other row's projection is unaffected.
        """
        self._check_fitted()
        X = _as_finite_matrix(X, "X")
        _check_n_features(X, len(self.x_mean_), "X")
        scale = self.correlations_**self.scale_power
        x_embeddings = _project(X, self.x_mean_, self.x_weights_, scale)
        if Y is None:
            return x_embeddings
        Y = _as_finite_matrix(Y, "Y")
        _check_n_features(Y, len(self.y_mean_), "Y")
        y_embeddings = _project(Y, self.y_mean_, self.y_weights_, scale)
        return x_embeddings, y_embeddings

    def transform_captions(self, Y):
        """Project captions only (a query, say) into the joint space: `transform`'s second half."""
        self._check_fitted()
        return self.transform(np.zeros((0, len(self.x_mean_))), Y)[1]

    def save(self, directory):
        """Write the fitted model to `directory`: cca.npz (arrays) and cca.json (readable).

        The arrays are stored at `stored_precision`, so that the same data give the same
        bytes on any machine; `load` returns them as stored.
        """
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {
            _array_name(name): stored_precision(getattr(self, name))
            for name, _ in FITTED_ATTRIBUTES
        }
        np.savez(directory / ARRAYS_FILE, **arrays)
        summary = {
            "params": {
                "n_components": self.n_components,
                "reg": self.reg,
                "scale_power": self.scale_power,
            },
            "x_weights_shape": list(self.x_weights_.shape),
            "y_weights_shape": list(self.y_weights_.shape),
            "correlations": arrays[_array_name("correlations_")].tolist(),
        }
        (directory / PARAMS_FILE).write_text(json.dumps(summary, indent=2) + "\n")

    @classmethod
    def load(cls, directory):
        """Read a model written by `save` (the `cca` stage's `models/<dataset>/<image>-<text>`).

        Parameters
        ----------
        directory : str or Path
            The folder holding cca.json (the params, readable) and cca.npz (the arrays).

        Returns
        -------
        CCA
            A fitted model, ready to `transform`.

        Raises
        ------
        FileNotFoundError
            If either file is missing; the message says how to make it.

        Examples
        --------
        >>> from tie.joint.cca import CCA
        >>> model = CCA.load("models/demo/colorgrid-glove")  # doctest: +SKIP
        >>> images, captions = model.transform(X_test, Y_test)  # doctest: +SKIP
        """
        directory = Path(directory)
        for name in (PARAMS_FILE, ARRAYS_FILE):
            if not (directory / name).exists():
                raise FileNotFoundError(
                    f"{directory / name} does not exist: run `dvc repro cca` to fit and save "
                    "the CCA model"
                )
        summary = json.loads((directory / PARAMS_FILE).read_text())
        model = cls(**summary["params"])
        with np.load(directory / ARRAYS_FILE) as arrays:
            for name, _ in FITTED_ATTRIBUTES:
                setattr(model, name, arrays[_array_name(name)])
        return model

    def check_params(self, n_features_x, n_features_y):
        """Check the params (`tie.config.registry.CCA_PARAM_CONSTRAINTS`) and the
        feature dimensions, before any work.

        Raises
        ------
        InvalidParam
            Naming the argument (`n_components`, `reg` or `scale_power`) and its value
            first, then what is allowed.
        """
        for name, allowed in CCA_PARAM_CONSTRAINTS.items():
            value = getattr(self, name)
            if not allowed.admits(value):
                raise InvalidParam(name, value, f"must be {allowed.describe()}")
        limit = min(n_features_x, n_features_y)
        side = "image features (X)" if n_features_x <= n_features_y else "caption features (Y)"
        if self.n_components > limit:
            raise InvalidParam(
                "n_components",
                self.n_components,
                f"exceeds {limit}, the dimension of the {side}: at most {limit}",
            )

    def _check_fitted(self):
        if not all(hasattr(self, name) for name, _ in FITTED_ATTRIBUTES):
            raise RuntimeError(
                "this CCA is not fitted yet: call fit(X, Y) or CCA.load(directory) first"
            )


def _project(matrix, mean, weights, scale):
    """Centred, projected and scaled rows; an all-zero row of `matrix` stays all-zero."""
    embeddings = (matrix - mean) @ weights * scale
    embeddings[~matrix.any(axis=1)] = 0.0
    return embeddings


def degenerate_fit(n_components: int, n_images: int, images: str = "images fitted"):
    """What is wrong with fitting `n_components` from `n_images` images, or None if nothing:
    n centred images span at most n - 1 directions, so the last components are noise.

    The one wording of this warning (`CCA.fit`, and the `cca` stage for the model it chose).
    """
    if n_components < n_images:
        return None
    return (
        f"n_components = {n_components} is not below the number of {images} ({n_images}): the"
        f" fit is degenerate ({n_images} images span at most {n_images - 1} directions); use"
        " fewer components or more images"
    )


class InvalidParam(ValueError):
    """A CCA param that cannot work: the message starts with `<param>=<value>`.

    `param` is the argument's name, so that a caller can say it in its own terms (the
    `cca` stage: `cca.<param>` in params.yaml).
    """

    def __init__(self, param, value, reason):
        super().__init__(f"{param}={value!r} {reason}")
        self.param = param


def _array_name(attribute):
    """The key of a fitted attribute in cca.npz: its name without the trailing `_`."""
    return attribute.rstrip("_")


def _rank_deficient_error(view, reg):
    return InvalidParam(
        "reg",
        reg,
        f"cannot whiten the covariance of {view}, which is singular (rank-deficient features,"
        " or fewer samples than features): use a ridge, e.g. 1e-3",
    )


def _regularised_cholesky(cov, reg, view):
    """Lower Cholesky factor of cov + reg * lambda_max(cov) * I.

    Without a ridge, a singular covariance is detected from the factor's condition number:
    Cholesky alone often succeeds on one, through a rounding-sized pivot, and gives huge
    weights.
    """
    if not np.trace(cov) > 0:
        raise ValueError(f"every feature of {view} is constant: CCA needs varying features")
    regularised = np.array(cov, order="F")
    if reg > 0:
        regularised.flat[:: len(cov) + 1] += reg * _largest_eigenvalue(cov)
    try:
        with _safe_syrk_threads(len(cov)):
            chol = scipy.linalg.cholesky(regularised, lower=True, overwrite_a=True)
    except np.linalg.LinAlgError as error:
        raise _rank_deficient_error(view, reg) from error
    if reg == 0:
        one_norm = np.abs(cov).sum(axis=0).max()
        rcond, _ = scipy.linalg.lapack.dpocon(chol, one_norm, uplo="L")
        if rcond <= len(cov) * np.finfo(np.float64).eps:
            raise _rank_deficient_error(view, reg)
    return chol


def _top_singular_triplets(matrix, k):
    """The k largest singular values of `matrix` (descending) and their singular vectors.

    From the k top eigenpairs of the smaller Gram matrix (M M^T or M^T M): its eigenvalues
    are the squared singular values and its eigenvectors the singular vectors of that
    side; the other side's are M^T u / s, orthonormalised by a QR step so that they stay
    orthonormal where s is near zero. Squaring costs accuracy only near zero: a zero
    singular value comes out as up to ~1e-8 of the largest (the square root of rounding),
    far below any canonical correlation that matters here.
    """
    wide = matrix.shape[0] <= matrix.shape[1]
    short = matrix if wide else matrix.T  # (m, n) with m <= n: its Gram is m x m
    m = len(short)
    # short.T is Fortran-ordered for C-ordered input: BLAS syrk reads it without a copy.
    with _safe_syrk_threads(m):
        gram = scipy.linalg.blas.dsyrk(1.0, short.T, trans=1, lower=1)
    squares, vectors = scipy.linalg.eigh(gram, lower=True, subset_by_index=[m - k, m - 1])
    squares, vectors = squares[::-1], vectors[:, ::-1]
    values = np.sqrt(np.clip(squares, 0, None))
    other, triangle = scipy.linalg.qr(short.T @ vectors, mode="economic")
    other *= np.where(np.diag(triangle) < 0, -1.0, 1.0)  # the sign that makes M^T u = s v
    return (vectors, values, other) if wide else (other, values, vectors)


def _sign_convention(u, s, v):
    """The singular triplets with each component's sign fixed, as scikit-learn's `svd_flip`.

    A singular pair (u_i, v_i) is defined up to a common sign, which eigensolvers choose
    differently on different machines: flip both so that the entry of u_i of largest
    magnitude is positive. (The argmax is stable: two entries of a direction would have
    to agree in magnitude to ~1e-13 to swap.)
    """
    largest = np.argmax(np.abs(u), axis=0)
    signs = np.where(u[largest, np.arange(u.shape[1])] < 0, -1.0, 1.0)
    return u * signs, s, v * signs


def _largest_eigenvalue(cov):
    """The largest eigenvalue of a symmetric matrix, to machine precision.

    A full eigendecomposition of a 4096 x 4096 covariance costs more than the rest of the
    fit after the covariances; Lanczos iterations need only matrix-vector products.
    """
    n = len(cov)
    if n <= _LANCZOS_MIN_DIMENSION:
        return scipy.linalg.eigvalsh(cov, subset_by_index=[n - 1, n - 1])[0]
    start = np.random.default_rng(0).standard_normal(n)  # fixed: the same result every run
    # BLAS reads Fortran order: a C-ordered cov is passed as cov.T (the same symmetric
    # matrix), a Fortran-ordered one as it is; either way scipy multiplies without a copy
    # (passing cov.T of a Fortran-ordered cov copied all of it at every product).
    fortran = cov if cov.flags.f_contiguous else cov.T
    operator = scipy.sparse.linalg.LinearOperator(
        (n, n), matvec=lambda v: scipy.linalg.blas.dsymv(1.0, fortran, v), dtype=np.float64
    )
    return scipy.sparse.linalg.eigsh(
        operator, k=1, which="LA", v0=start, tol=0, return_eigenvectors=False
    )[0]


def _chunks(n_rows, chunk_rows):
    return [(start, min(start + chunk_rows, n_rows)) for start in range(0, n_rows, chunk_rows)]


def _float64_chunk(matrix, rows, name):
    chunk = np.asarray(matrix[rows], dtype=np.float64)
    _check_finite(chunk, name)
    return chunk


def _check_finite(values, name):
    if not np.isfinite(values).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean the features first")


def _add_gram(gram, rows):
    """gram += rows^T rows on the lower triangle, in place (BLAS syrk: half a matmul).

    The products of the streaming pass all go through scipy's BLAS: with numpy's too,
    two thread pools would take turns and the idle one's spinning threads slow the other.
    """
    order = len(gram)
    if order <= _THREADED_SYRK_MAX_ORDER:
        return scipy.linalg.blas.dsyrk(1.0, rows.T, beta=1.0, c=gram, lower=1, overwrite_c=1)
    # Column blocks of the lower triangle, each from its diagonal down, by gemm: the
    # threaded syrk of this order would crash (`_THREADED_SYRK_MAX_ORDER`).
    rows = np.asfortranarray(rows)  # column slices contiguous: BLAS reads them in place
    for start in range(0, order, _GRAM_BLOCK):
        stop = min(start + _GRAM_BLOCK, order)
        block = scipy.linalg.blas.dgemm(1.0, rows[:, start:], rows[:, start:stop], trans_a=1)
        block[: stop - start] = np.tril(block[: stop - start])  # syrk's lower half only
        gram[start:, start:stop] += block
    return gram


def _safe_syrk_threads(order):
    """Where a BLAS syrk or Cholesky of this order runs: see `_THREADED_SYRK_MAX_ORDER`."""
    if order <= _THREADED_SYRK_MAX_ORDER:
        return nullcontext()
    return threadpool_limits(1, user_api="blas")


def _add_product(product, left, right):
    """product += left^T right, in place (BLAS gemm)."""
    return scipy.linalg.blas.dgemm(
        1.0, left.T, right.T, beta=1.0, c=product, trans_b=1, overwrite_c=1
    )


def _symmetric_from_lower(lower, n):
    """The full matrix divided by n, in place, from one whose upper triangle syrk never wrote.

    By blocks of columns, so that no second matrix of that order is ever allocated: at
    an 18,000-d text side each would be 2.6 GB.
    """
    order = len(lower)
    for start in range(0, order, _GRAM_BLOCK):
        stop = min(start + _GRAM_BLOCK, order)
        diagonal = np.tril(lower[start:stop, start:stop])
        lower[start:stop, start:stop] = diagonal + np.tril(diagonal, -1).T
        lower[start:stop, stop:] = lower[stop:, start:stop].T  # the upper from the lower
    lower /= n
    return lower


def _as_matrix(values, name):
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


def _as_finite_matrix(values, name):
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows x features), got shape {matrix.shape}")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinite values; clean the features first")
    return matrix


def _check_n_features(matrix, expected, name):
    if matrix.shape[1] != expected:
        raise ValueError(
            f"{name} has {matrix.shape[1]} features but this CCA was fitted on {expected}; "
            "use features from the same encoder as at fit time"
        )
