"""Diagonal mixture models of word vectors: Gaussian (GMM), Laplacian (LMM) and hybrid (HGLMM).

Klein, Lev, Sadeh, Wolf, "Fisher Vectors Derived from Hybrid Gaussian-Laplacian Mixture
Models for Image Annotation" (arXiv 1411.7399). Each component k has a weight w_k and,
in every dimension d, a location mu_kd and a scale:

- Gaussian dimension: log p(x_d) = -log(sqrt(2 pi) sigma_kd) - (x_d - mu_kd)^2 / (2 sigma_kd^2);
- Laplacian dimension: log p(x_d) = -log(2 s_kd) - |x_d - mu_kd| / s_kd.

`GMM` has only Gaussian dimensions, `LMM` only Laplacian ones, and `HGLMM` chooses, for
every dimension of every component, the one of the two that gives the larger expected
log-likelihood in the M-step: the hybrid density (a weighted geometric mean of the two)
is maximised at an end point, so the choice is binary, as the paper derives.

Fitting is EM. The M-step maximises the expected log-likelihood exactly: weighted mean
and standard deviation for a Gaussian dimension, weighted median and weighted mean
absolute deviation from it for a Laplacian one, so the log-likelihood never decreases.
A scale floor (`scale_floor` times the dimension's standard deviation over the data)
keeps a component from collapsing onto a single point; the floored scale is still the
constrained maximum, so EM stays monotone. A component that loses all its points is
started again on the point the mixture explains worst.

Initialisation: `GMM` from k-means++ seeds (each point assigned to its nearest seed);
`LMM` and `HGLMM` from the responsibilities of a `GMM` fitted with the same settings
(and GMM's default iteration cap, so that the start does not depend on `max_iter`).
"""

from __future__ import annotations

import numpy as np
from scipy.special import logsumexp
from sklearn.cluster import kmeans_plusplus

from tie.progress import progress

_LOG_2PI = np.log(2 * np.pi)
_LOG_2 = np.log(2.0)
# A component whose total responsibility falls below this many points is re-seeded.
_EMPTY_COMPONENT = 1e-6


class _DiagonalMixture:
    """EM for a diagonal mixture whose dimensions are Gaussian, Laplacian or either."""

    _family = "gaussian"  # "gaussian" | "laplacian" | "hybrid"

    def __init__(self, *, n_components=30, max_iter=100, tol=1e-5, scale_floor=1e-3, seed=0):
        self.n_components = n_components
        self.max_iter = max_iter
        self.tol = tol
        self.scale_floor = scale_floor
        self.seed = seed

    def fit(self, X):
        """Fit by EM on the rows of X; stop when the mean log-likelihood gains less than `tol`.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        self
        """
        X = _as_data(X)
        self._check_params(len(X))
        spread = X.std(axis=0)
        self._floor = self.scale_floor * np.where(spread > 0, spread, 1.0)
        self._init(X)
        previous = -np.inf
        self.converged_ = False
        self.n_iter_ = 0
        bar = progress(total=self.max_iter, desc=f"{self._family} mixture EM", unit="iteration")
        while True:
            log_likelihood, resp = self._e_step(X)
            if log_likelihood - previous < self.tol:
                self.converged_ = self.n_iter_ > 0
                break
            if self.n_iter_ == self.max_iter:
                break
            previous = log_likelihood
            self._m_step(X, resp)
            self.n_iter_ += 1
            bar.update()
        bar.close()
        self.log_likelihood_ = log_likelihood
        del self._floor
        return self

    def score_samples(self, X):
        """Log-likelihood of each row of X under the mixture, shape (n_samples,)."""
        return logsumexp(self._weighted_log_densities(_as_data(X)), axis=1)

    def score(self, X):
        """Mean log-likelihood of the rows of X."""
        return float(self.score_samples(X).mean())

    def predict_proba(self, X):
        """Posterior probability of each component for each row, shape (n_samples, n_components)."""
        weighted = self._weighted_log_densities(_as_data(X))
        return np.exp(weighted - logsumexp(weighted, axis=1, keepdims=True))

    def _check_params(self, n_samples):
        if not (isinstance(self.n_components, int | np.integer) and self.n_components >= 1):
            raise ValueError(f"n_components must be a positive integer, got {self.n_components!r}")
        if self.n_components > n_samples:
            raise ValueError(
                f"n_components={self.n_components} exceeds the {n_samples} samples to fit on; "
                "lower n_components or fit on more word vectors"
            )
        if not (isinstance(self.max_iter, int | np.integer) and self.max_iter >= 0):
            raise ValueError(f"max_iter must be a non-negative integer, got {self.max_iter!r}")
        if not self.scale_floor > 0:
            raise ValueError(f"scale_floor must be > 0, got {self.scale_floor!r}")

    def _init(self, X):
        if self._family == "gaussian":
            centres, _ = kmeans_plusplus(X, self.n_components, random_state=self.seed)
            squared = (X**2).sum(1)[:, None] - 2 * X @ centres.T + (centres**2).sum(1)
            resp = np.zeros((len(X), self.n_components))
            resp[np.arange(len(X)), squared.argmin(axis=1)] = 1.0
        else:
            gmm = GMM(  # its own iteration cap: the start does not depend on max_iter
                n_components=self.n_components,
                tol=self.tol,
                scale_floor=self.scale_floor,
                seed=self.seed,
            ).fit(X)
            resp = gmm.predict_proba(X)
        self._m_step(X, resp)

    def _weighted_log_densities(self, X):
        """log w_k + log p_k(x) for every row and component, shape (n_samples, n_components)."""
        gaussian = self.gaussian_
        out = np.tile(np.log(self.weights_), (len(X), 1))
        if gaussian.any():
            precision = np.where(gaussian, 1.0 / self.scales_**2, 0.0)
            # sum_d (x_d - mu_kd)^2 / sigma_kd^2 over the Gaussian dimensions, by BLAS.
            squared = (
                (X**2) @ precision.T
                - 2.0 * X @ (self.means_ * precision).T
                + (self.means_**2 * precision).sum(axis=1)
            )
            normaliser = np.where(gaussian, 0.5 * _LOG_2PI + np.log(self.scales_), 0.0)
            out -= 0.5 * squared + normaliser.sum(axis=1)
        for k in np.flatnonzero((~gaussian).any(axis=1)):
            dims = ~gaussian[k]
            distance = np.abs(X[:, dims] - self.means_[k, dims]) @ (1.0 / self.scales_[k, dims])
            out[:, k] -= distance + (_LOG_2 + np.log(self.scales_[k, dims])).sum()
        return out

    def _e_step(self, X):
        weighted = self._weighted_log_densities(X)
        per_sample = logsumexp(weighted, axis=1, keepdims=True)
        return float(per_sample.mean()), np.exp(weighted - per_sample)

    def _m_step(self, X, resp):
        n_samples, n_features = X.shape
        counts = resp.sum(axis=0)
        empty = counts < _EMPTY_COMPONENT
        if empty.any():
            resp = self._reseed(X, resp, empty)
            counts = resp.sum(axis=0)
        means = np.empty((self.n_components, n_features))
        scales = np.empty_like(means)
        gaussian = np.empty(means.shape, dtype=bool)
        if self._family != "laplacian":
            g_means = resp.T @ X / counts[:, None]
        if self._family != "gaussian":
            sorted_x, order = _sorted_columns(X)
        for k in range(self.n_components):
            r, n = resp[:, k], counts[k]
            if self._family != "laplacian":
                g_sq = r @ (X - g_means[k]) ** 2
                g_scale = np.maximum(np.sqrt(g_sq / n), self._floor)
                g_q = -n * (0.5 * _LOG_2PI + np.log(g_scale)) - g_sq / (2 * g_scale**2)
            if self._family != "gaussian":
                l_mean = _weighted_median(sorted_x, order, r)
                l_abs = r @ np.abs(X - l_mean)
                l_scale = np.maximum(l_abs / n, self._floor)
                l_q = -n * (_LOG_2 + np.log(l_scale)) - l_abs / l_scale
            if self._family == "gaussian":
                choose = np.ones(n_features, dtype=bool)
            elif self._family == "laplacian":
                choose = np.zeros(n_features, dtype=bool)
            else:  # the larger expected log-likelihood, dimension by dimension
                choose = g_q >= l_q
            gaussian[k] = choose
            if self._family == "gaussian":
                means[k], scales[k] = g_means[k], g_scale
            elif self._family == "laplacian":
                means[k], scales[k] = l_mean, l_scale
            else:
                means[k] = np.where(choose, g_means[k], l_mean)
                scales[k] = np.where(choose, g_scale, l_scale)
        self.weights_ = counts / n_samples
        self.means_ = means
        self.scales_ = scales
        self.gaussian_ = gaussian

    def _reseed(self, X, resp, empty):
        """Give each empty component the point the current mixture explains worst."""
        if hasattr(self, "means_"):
            worst = np.argsort(self.score_samples(X))
        else:
            worst = np.random.default_rng(self.seed).permutation(len(X))
        resp = resp.copy()
        for k, row in zip(np.flatnonzero(empty), worst, strict=False):
            resp[row] = 0.0
            resp[row, k] = 1.0
        return resp


class GMM(_DiagonalMixture):
    """Gaussian mixture with diagonal covariances, fitted by EM from k-means++ seeds.

    Parameters
    ----------
    n_components : int
        Number of components K.
    max_iter : int
        Most EM iterations (M-steps after the initial one).
    tol : float
        EM stops when the mean log-likelihood per sample gains less than this.
    scale_floor : float
        Smallest scale of a component in a dimension, as a fraction of that dimension's
        standard deviation over the fitting data.
    seed : int
        Seed of the k-means++ initialisation.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
        Locations mu_kd.
    scales_ : ndarray of shape (n_components, n_features)
        Standard deviations sigma_kd.
    gaussian_ : ndarray of bool, shape (n_components, n_features)
        All True.
    log_likelihood_ : float
        Mean log-likelihood of the fitting data under the final parameters.
    n_iter_ : int
        EM iterations run.
    converged_ : bool
        Whether EM stopped on `tol` rather than on `max_iter`.

    Examples
    --------
    >>> import numpy as np
    >>> from tie.text.mixtures import GMM
    >>> X = np.random.default_rng(0).normal(size=(200, 3))
    >>> gmm = GMM(n_components=2, seed=0).fit(X)
    >>> gmm.means_.shape, gmm.score_samples(X[:5]).shape
    ((2, 3), (5,))
    """

    _family = "gaussian"


class LMM(_DiagonalMixture):
    """Laplacian mixture with diagonal scales, fitted by EM (weighted medians and deviations).

    Parameters and attributes as `GMM`; `scales_` holds the Laplacian scales s_kd (the
    mean absolute deviation from mu_kd) and `gaussian_` is all False. Initialised from
    the responsibilities of a `GMM` with the same settings.

    Examples
    --------
    >>> import numpy as np
    >>> from tie.text.mixtures import LMM
    >>> X = np.random.default_rng(0).laplace(size=(200, 3))
    >>> LMM(n_components=2, seed=0).fit(X).gaussian_.any()
    np.False_
    """

    _family = "laplacian"


class HGLMM(_DiagonalMixture):
    """Hybrid Gaussian-Laplacian mixture: each dimension of each component is one or the other.

    Parameters and attributes as `GMM`; `gaussian_[k, d]` says whether dimension d of
    component k is Gaussian (scale sigma_kd) or Laplacian (scale s_kd), as chosen by the
    last M-step. Initialised from the responsibilities of a `GMM` with the same settings.

    Examples
    --------
    >>> import numpy as np
    >>> from tie.text.mixtures import HGLMM
    >>> rng = np.random.default_rng(0)
    >>> X = np.column_stack([rng.normal(size=2000), rng.laplace(size=2000)])
    >>> HGLMM(n_components=1, seed=0).fit(X).gaussian_
    array([[ True, False]])
    """

    _family = "hybrid"


MIXTURES = {"gmm": GMM, "lmm": LMM, "hglmm": HGLMM}


def _as_data(X):
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"expected a 2-D array (samples x features), got shape {X.shape}")
    return X


def _sorted_columns(X):
    order = np.argsort(X, axis=0, kind="stable")
    return np.take_along_axis(X, order, axis=0), order


def _weighted_median(sorted_x, order, weights):
    """Per column, a minimiser of sum_i weights_i |x_i - m|: the first sorted value at which
    the cumulative weight reaches half the total."""
    cumulative = np.cumsum(weights[order], axis=0)
    below_half = cumulative < 0.5 * cumulative[-1]
    index = below_half.sum(axis=0)
    return sorted_x[index, np.arange(sorted_x.shape[1])]
