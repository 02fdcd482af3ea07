"""Canonical correlation analysis (CCA) between image and caption features, in closed form.

CCA finds directions `x_weights_` and `y_weights_` such that the projections of paired
rows of X and Y are maximally correlated, component after component, and uncorrelated
across components. Images and captions projected this way live in one space where they
can be compared by cosine similarity (Gong et al. 2014; Klein et al. CVPR 2015).

The solution is computed directly, in float64, from the moments of the pairs (their means
and covariances: `tie.moments`, one pass over the data, or the `moments` stage's folder):

1. add a ridge to each view's covariance, `reg` times its largest eigenvalue (found by
   Lanczos iterations, not a full eigendecomposition), so that the same `reg` means the
   same amount of regularisation whatever the scale of the features;
2. factor each in place, Cxx = Lx Lx^T and Cyy = Ly Ly^T (LAPACK dpotrf over the buffer
   holding the covariance's lower triangle: the factor overwrites it, so a side of order n
   costs one n x n float64 buffer, 10.4 GB at 36,000-d, never two);
3. whiten the cross-covariance by two in-place triangular solves, W = Lx^-1 Cxy Ly^-T
   (dx x dy, the size of Cxy);
4. the top `n_components` singular triplets of W = U S V^T: the singular values are the
   canonical correlations, and Lx^-T U, Ly^-T V the canonical directions. They come from
   the symmetric eigenproblem of the smaller of W W^T and W^T W (the textbook CCA
   eigenproblem), on the smaller side's dimension (the image side's 4,096 for VGG19 next to
   an 18,000-d text side), solved for those eigenpairs only. Every smaller number of
   components is a truncation of this one fit (`CCA.truncated`).

A grid over `reg` (`tie.joint.model_selection`) keeps one buffer per side
(`CholeskyBuffers`) and refills it from the moments for each value: the pass over the data
is made once for the whole grid.

The same inputs give the same files on any machine (`save`): each component's sign
follows a fixed convention (`_sign_convention`), and the arrays are stored at a precision
far above the last-bit differences of float64 BLAS kernels, thread counts and chunk sizes
(`tie.features.precision`).
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import scipy.linalg
import scipy.sparse.linalg

from tie.config.registry import CCA_PARAM_CONSTRAINTS
from tie.features.precision import stored_precision
from tie.moments.blas import safe_threads
from tie.moments.stream import as_matrix, covariances

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

# Up to this dimension the largest eigenvalue comes from LAPACK directly; above, from a few
# Lanczos iterations (ARPACK), which cost O(d^2) each instead of O(d^3) for the LAPACK path.
_LANCZOS_MIN_DIMENSION = 256


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
        X = as_matrix(X, "X")
        Y = as_matrix(Y, "Y")
        self.check_params(X.shape[1], Y.shape[1])
        cov = covariances(X, Y, image_index)
        self.fit_covariances(cov, CholeskyBuffers(cov, overwrite=True))  # factored in place
        n_images = len(X) if image_index is None else len(np.unique(image_index))
        if (degenerate := degenerate_fit(self.n_components, n_images)) is not None:
            warnings.warn(f"CCA {degenerate}", stacklevel=2)
        return self

    def fit_covariances(self, cov, buffers=None):
        """Fit from the moments of the pairs, computed once for several fits (grid search).

        Parameters
        ----------
        cov : tie.moments.stream.Covariances or tie.moments.store.StoredMoments
            `covariances(X, Y, ...)`, or the `moments` stage's folder (`load_moments`). Not
            changed: each side's covariance is copied (read, for stored moments) into a
            buffer, factored there.
        buffers : CholeskyBuffers, optional
            The buffers to factor in: one per side, kept between the fits of a grid.
        """
        dx, dy = len(cov.x_mean), len(cov.y_mean)
        self.check_params(dx, dy)
        buffers = buffers or CholeskyBuffers(cov)
        chol_x = buffers.factor("xx", self.reg, "X")
        chol_y = buffers.factor("yy", self.reg, "Y")
        # W = Lx^-1 Cxy Ly^-T, by two triangular solves in place on one copy of Cxy.
        blas = scipy.linalg.blas
        whitened = np.array(cov.xy, dtype=np.float64, order="F")
        whitened = blas.dtrsm(1.0, chol_x, whitened, lower=1, overwrite_b=1)
        whitened = blas.dtrsm(1.0, chol_y, whitened, side=1, lower=1, trans_a=1, overwrite_b=1)
        u, s, v = _sign_convention(*_top_singular_triplets(whitened, self.n_components))
        del whitened

        self.x_mean_ = np.asarray(cov.x_mean)
        self.y_mean_ = np.asarray(cov.y_mean)
        solve = scipy.linalg.solve_triangular
        self.x_weights_ = solve(chol_x, u, lower=True, trans="T", check_finite=False)
        self.y_weights_ = solve(chol_y, v, lower=True, trans="T", check_finite=False)
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


class CholeskyBuffers:
    """The Cholesky factors of both sides' regularised covariances, one buffer per side.

    `factor(side, reg)` fills the side's buffer with its covariance's lower triangle (copied
    from `Covariances`, read from `StoredMoments`), adds the ridge to the diagonal and
    factors it in place (LAPACK dpotrf): a side of order n holds one n x n float64 buffer
    for the whole grid, never a second. The largest eigenvalue (the ridge's scale) and the
    one-norm (the rank check of `reg=0`) are computed at the first fill that needs them and
    kept.

    With `overwrite`, the covariances of `cov` themselves are factored (`CCA.fit`: they
    were computed for this one fit); a second factorisation of a side is refused.
    """

    def __init__(self, cov, overwrite: bool = False):
        self.cov = cov
        self.overwrite = overwrite
        self._buffers: dict[str, np.ndarray] = {}
        self._largest: dict[str, float] = {}
        self._one_norm: dict[str, float] = {}

    def factor(self, side: str, reg: float, view: str) -> np.ndarray:
        """The lower Cholesky factor of the `side` covariance + reg * lambda_max * I.

        Without a ridge, a singular covariance is detected from the factor's condition
        number: Cholesky alone often succeeds on one, through a rounding-sized pivot, and
        gives huge weights.
        """
        if self.overwrite:
            if side in self._buffers:
                raise RuntimeError(f"the covariance {side} was already factored in place")
            buffer = getattr(self.cov, side)
        else:
            buffer = self.cov.lower(side, out=self._buffers.get(side))
        self._buffers[side] = buffer
        n = len(buffer)
        diagonal = np.arange(n)
        if side not in self._largest:
            if not buffer[diagonal, diagonal].sum() > 0:
                raise ValueError(f"every feature of {view} is constant: CCA needs varying features")
            self._largest[side] = _largest_eigenvalue(buffer)
        if reg == 0 and side not in self._one_norm:
            self._one_norm[side] = _one_norm_of_lower(buffer)
        if reg > 0:
            buffer[diagonal, diagonal] += reg * self._largest[side]
        with safe_threads(n):
            chol, info = scipy.linalg.lapack.dpotrf(buffer, lower=1, clean=0, overwrite_a=1)
        if info > 0:
            raise _rank_deficient_error(view, reg)
        if info < 0 or not np.shares_memory(chol, buffer):
            raise RuntimeError(f"dpotrf did not factor the {side} buffer in place (info {info})")
        if reg == 0:
            rcond, _ = scipy.linalg.lapack.dpocon(chol, self._one_norm[side], uplo="L")
            if rcond <= n * np.finfo(np.float64).eps:
                raise _rank_deficient_error(view, reg)
        return chol


def _one_norm_of_lower(lower, block=256):
    """The one-norm (largest column sum of magnitudes) of the symmetric matrix whose lower
    triangle `lower` holds, by blocks of `block` columns (no matrix of its order is made)."""
    n = len(lower)
    sums = np.zeros(n)
    for start in range(0, n, block):
        stop = min(start + block, n)
        part = np.abs(lower[start:, start:stop])
        part[: stop - start] = np.tril(part[: stop - start])
        sums[start:stop] += part.sum(axis=0)  # column j, from the diagonal down
        sums[start:] += part.sum(axis=1)  # row i left of the diagonal: column i's upper part
        sums[start:stop] -= np.diagonal(part)  # the diagonal, counted twice
    return sums.max()


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
    # BLAS syrk reads a Fortran-ordered matrix without a copy: short, or short.T.
    with safe_threads(m):
        if short.flags.f_contiguous:
            gram = scipy.linalg.blas.dsyrk(1.0, short, lower=1)
        else:
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
    """The largest eigenvalue of a symmetric matrix, to machine precision, reading only its
    lower triangle (the covariances of `tie.moments` hold nothing else).

    A full eigendecomposition of a 4096 x 4096 covariance costs more than the rest of the
    fit after the covariances; Lanczos iterations need only matrix-vector products.
    """
    n = len(cov)
    if n <= _LANCZOS_MIN_DIMENSION:
        return scipy.linalg.eigvalsh(cov, lower=True, subset_by_index=[n - 1, n - 1])[0]
    start = np.random.default_rng(0).standard_normal(n)  # fixed: the same result every run
    # BLAS reads Fortran order: a Fortran-ordered cov as it is (its lower triangle), a
    # C-ordered one as cov.T (whose upper triangle is cov's lower); either way scipy
    # multiplies without a copy (passing a C-ordered array copied all of it at every product).
    if cov.flags.f_contiguous:
        fortran, lower = cov, 1
    else:
        fortran, lower = cov.T, 0
    operator = scipy.sparse.linalg.LinearOperator(
        (n, n),
        matvec=lambda v: scipy.linalg.blas.dsymv(1.0, fortran, v, lower=lower),
        dtype=np.float64,
    )
    return scipy.sparse.linalg.eigsh(
        operator, k=1, which="LA", v0=start, tol=0, return_eigenvectors=False
    )[0]


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
