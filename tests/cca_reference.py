"""Today's CCA by the textbook formulas, for tests: the reference every fit must equal.

The stacked pairs, their dense covariances (numpy), the ridge `reg` times the largest
eigenvalue (a full eigendecomposition), Cholesky factors out of place, the full SVD of the
whitened cross-covariance, and the sign convention of `tie.joint.cca._sign_convention`:
what `tie.joint.cca` computed before its covariances were factored in place.
"""

import numpy as np
import scipy.linalg


def reference_cca(X, Y, image_index, n_components, reg):
    """(correlations, x_weights, y_weights, x_mean, y_mean) of CCA(n_components, reg)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    pairs_x = X if image_index is None else X[np.asarray(image_index)]
    xc, yc = pairs_x - pairs_x.mean(axis=0), Y - Y.mean(axis=0)
    n = len(Y)
    cxx, cyy, cxy = xc.T @ xc / n, yc.T @ yc / n, xc.T @ yc / n

    def factor(cov):
        ridge = reg * np.linalg.eigvalsh(cov)[-1]
        return np.linalg.cholesky(cov + ridge * np.eye(len(cov)))

    lx, ly = factor(cxx), factor(cyy)
    whitened = scipy.linalg.solve_triangular(lx, cxy, lower=True)
    whitened = scipy.linalg.solve_triangular(ly, whitened.T, lower=True).T
    u, s, vt = np.linalg.svd(whitened, full_matrices=False)
    u, s, v = u[:, :n_components], s[:n_components], vt[:n_components].T
    largest = np.argmax(np.abs(u), axis=0)
    signs = np.where(u[largest, np.arange(n_components)] < 0, -1.0, 1.0)
    u, v = u * signs, v * signs
    x_weights = scipy.linalg.solve_triangular(lx, u, lower=True, trans="T")
    y_weights = scipy.linalg.solve_triangular(ly, v, lower=True, trans="T")
    return s, x_weights, y_weights, pairs_x.mean(axis=0), Y.mean(axis=0)


def relative_errors(model, reference) -> dict[str, float]:
    """Each fitted array's largest difference from the reference's, relative to its largest."""
    names = ("correlations_", "x_weights_", "y_weights_", "x_mean_", "y_mean_")
    return {
        name: float(np.abs(getattr(model, name) - expected).max() / np.abs(expected).max())
        for name, expected in zip(names, reference, strict=True)
    }
