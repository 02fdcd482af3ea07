"""Canonical correlation analysis (CCA) between image and caption features, in closed form.

CCA finds directions `x_weights_` and `y_weights_` such that the projections of paired
rows of X and Y are maximally correlated, component after component, and uncorrelated
across components. Images and captions projected this way live in one space where they
can be compared by cosine similarity (Gong et al. 2014; Klein et al. CVPR 2015).

The solution is computed directly, in float64:

1. centre both views and form the covariances Cxx, Cyy and the cross-covariance Cxy;
2. add a ridge to each view's covariance, `reg` times its largest eigenvalue, so that the
   same `reg` means the same amount of regularisation whatever the scale of the features;
3. whiten with Cholesky factors, Cxx = Lx Lx^T and Cyy = Ly Ly^T;
4. take the SVD of the whitened cross-covariance Lx^-1 Cxy Ly^-T = U S V^T: the singular
   values are the canonical correlations, and Lx^-T U, Ly^-T V the canonical directions.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import scipy.linalg

ARRAYS_FILE = "cca.npz"
PARAMS_FILE = "cca.json"


class CCA:
    """Regularised CCA, fitted in closed form.

    Parameters
    ----------
    n_components : int
        Number of canonical components to keep, at most min(dx, dy).
    reg : float
        Ridge added to each view's covariance, relative to its largest eigenvalue:
        Cxx + reg * lambda_max(Cxx) * I. 0 means no ridge, which needs full-rank
        covariances.
    scale_power : float
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
    """

    def __init__(self, n_components=128, reg=1e-3, scale_power=1.0):
        self.n_components = n_components
        self.reg = reg
        self.scale_power = scale_power

    def fit(self, X, Y, image_index=None):
        """Fit the canonical directions.

        Parameters
        ----------
        X : array-like of shape (n, dx)
            Image features. Without `image_index`, row i is paired with row i of Y.
        Y : array-like of shape (n_captions, dy)
            Caption features.
        image_index : array-like of int, shape (n_captions,), optional
            For every row of Y, the row of X it belongs to: X then holds one row per image
            and Y one row per caption. The result is exactly the fit on the stacked pairs
            (X[image_index], Y), computed without building that matrix: each image is
            weighted by its number of captions.

        Returns
        -------
        self
        """
        X = _as_finite_matrix(X, "X")
        Y = _as_finite_matrix(Y, "Y")
        self._check_n_components(X.shape[1], Y.shape[1])
        if not self.reg >= 0:
            raise ValueError(f"cca.reg must be >= 0, got {self.reg!r}")

        if image_index is None:
            if len(X) != len(Y):
                raise ValueError(
                    f"X and Y must have one row per pair, got {len(X)} and {len(Y)} rows; "
                    "if X has one row per image and Y one per caption, pass image_index"
                )
            image_weights = np.ones(len(X))
        else:
            image_index = _as_image_index(image_index, n_captions=len(Y), n_images=len(X))
            image_weights = np.bincount(image_index, minlength=len(X)).astype(np.float64)
        n_pairs = len(Y)
        if n_pairs < 2:
            raise ValueError(f"CCA needs at least 2 pairs to estimate covariances, got {n_pairs}")

        self.x_mean_ = image_weights @ X / n_pairs
        self.y_mean_ = Y.mean(axis=0)
        Xc = X - self.x_mean_
        Yc = Y - self.y_mean_
        if image_index is None:
            caption_sums = Yc  # each row of X is paired with exactly one caption
        else:
            # Row i: sum over the captions of image i of their centred vectors.
            caption_sums = np.zeros((len(X), Y.shape[1]))
            np.add.at(caption_sums, image_index, Yc)

        cov_xx = (Xc * image_weights[:, None]).T @ Xc / n_pairs
        cov_yy = Yc.T @ Yc / n_pairs
        cov_xy = Xc.T @ caption_sums / n_pairs

        chol_x = self._regularised_cholesky(cov_xx, "X")
        chol_y = self._regularised_cholesky(cov_yy, "Y")
        # Lx^-1 Cxy Ly^-T, by two triangular solves.
        left = scipy.linalg.solve_triangular(chol_x, cov_xy, lower=True)
        whitened = scipy.linalg.solve_triangular(chol_y, left.T, lower=True).T
        u, s, vt = scipy.linalg.svd(whitened, full_matrices=False)

        k = self.n_components
        self.x_weights_ = scipy.linalg.solve_triangular(chol_x, u[:, :k], lower=True, trans="T")
        self.y_weights_ = scipy.linalg.solve_triangular(chol_y, vt[:k].T, lower=True, trans="T")
        self.correlations_ = s[:k]
        return self

    def transform(self, X, Y=None):
        """Project images (and captions, if Y is given) into the joint space.

        Each component is multiplied by `correlations_ ** scale_power`. Returns the image
        embeddings, or a tuple (image_embeddings, caption_embeddings) when Y is given.
        """
        self._check_fitted()
        X = _as_finite_matrix(X, "X")
        _check_n_features(X, len(self.x_mean_), "X")
        scale = self.correlations_**self.scale_power
        x_embeddings = (X - self.x_mean_) @ self.x_weights_ * scale
        if Y is None:
            return x_embeddings
        Y = _as_finite_matrix(Y, "Y")
        _check_n_features(Y, len(self.y_mean_), "Y")
        y_embeddings = (Y - self.y_mean_) @ self.y_weights_ * scale
        return x_embeddings, y_embeddings

    def save(self, directory):
        """Write the fitted model to `directory`: cca.npz (arrays) and cca.json (readable)."""
        self._check_fitted()
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        np.savez(
            directory / ARRAYS_FILE,
            x_mean=self.x_mean_,
            y_mean=self.y_mean_,
            x_weights=self.x_weights_,
            y_weights=self.y_weights_,
            correlations=self.correlations_,
        )
        summary = {
            "params": {
                "n_components": self.n_components,
                "reg": self.reg,
                "scale_power": self.scale_power,
            },
            "x_weights_shape": list(self.x_weights_.shape),
            "y_weights_shape": list(self.y_weights_.shape),
            "correlations": self.correlations_.tolist(),
        }
        (directory / PARAMS_FILE).write_text(json.dumps(summary, indent=2) + "\n")

    @classmethod
    def load(cls, directory):
        """Read a model written by `save`."""
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
            model.x_mean_ = arrays["x_mean"]
            model.y_mean_ = arrays["y_mean"]
            model.x_weights_ = arrays["x_weights"]
            model.y_weights_ = arrays["y_weights"]
            model.correlations_ = arrays["correlations"]
        return model

    def _check_n_components(self, dx, dy):
        limit = min(dx, dy)
        side = "image features (X)" if dx <= dy else "caption features (Y)"
        if not (isinstance(self.n_components, int | np.integer) and 1 <= self.n_components):
            raise ValueError(
                f"cca.n_components must be a positive integer, got {self.n_components!r}"
            )
        if self.n_components > limit:
            raise ValueError(
                f"cca.n_components={self.n_components} exceeds {limit}, the dimension of the "
                f"{side}; set cca.n_components to at most {limit}"
            )

    def _regularised_cholesky(self, cov, view):
        """Lower Cholesky factor of cov + reg * lambda_max(cov) * I.

        Without a ridge, a singular covariance is detected from its eigenvalues: Cholesky
        alone often succeeds on one, through a rounding-sized pivot, and gives huge weights.
        """
        eigenvalues = scipy.linalg.eigvalsh(cov)
        largest = eigenvalues[-1]
        if largest <= 0:
            raise ValueError(f"every feature of {view} is constant: CCA needs varying features")
        rank_tolerance = len(cov) * np.finfo(np.float64).eps * largest
        if self.reg == 0 and eigenvalues[0] <= rank_tolerance:
            raise _rank_deficient_error(view, self.reg)
        try:
            return scipy.linalg.cholesky(cov + self.reg * largest * np.eye(len(cov)), lower=True)
        except np.linalg.LinAlgError as error:
            raise _rank_deficient_error(view, self.reg) from error

    def _check_fitted(self):
        if not hasattr(self, "x_weights_"):
            raise RuntimeError(
                "this CCA is not fitted yet: call fit(X, Y) or CCA.load(directory) first"
            )


def _rank_deficient_error(view, reg):
    return ValueError(
        f"the covariance of {view} is singular (rank-deficient features, or fewer samples "
        f"than features) and cannot be whitened with cca.reg={reg}: set cca.reg > 0 "
        "large enough, e.g. 1e-3"
    )


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


def _as_image_index(image_index, n_captions, n_images):
    image_index = np.asarray(image_index)
    if image_index.ndim != 1 or not np.issubdtype(image_index.dtype, np.integer):
        raise ValueError(
            "image_index must be a 1-D integer array (one entry per row of Y), got "
            f"dtype {image_index.dtype} and shape {image_index.shape}"
        )
    if len(image_index) != n_captions:
        raise ValueError(
            f"image_index has {len(image_index)} entries but Y has {n_captions} rows; "
            "it needs one entry per row of Y"
        )
    if n_captions and (image_index.min() < 0 or image_index.max() >= n_images):
        raise ValueError(
            f"image_index values must be rows of X, in 0..{n_images - 1}, got values in "
            f"{image_index.min()}..{image_index.max()}"
        )
    return image_index
