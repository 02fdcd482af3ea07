"""The CCA factored in place (one buffer per side, refilled from the moments for each reg)
equals today's CCA, the textbook formulas of tests/cca_reference.py, to 1e-10: for fits on
images with their captions (image_index) and on stacked pairs, in memory and from the
`moments` stage's folder, for every reg of a grid; the val metrics are the same."""

import numpy as np
import pytest
from cca_reference import reference_cca, relative_errors

from tie.joint.cca import CCA, CholeskyBuffers
from tie.joint.model_selection import grid_search
from tie.joint.retrieval import RSUM_KS, metrics_from_ranks, ranks
from tie.moments.store import load_moments, save_moments, symmetric
from tie.moments.stream import covariances

TOLERANCE = 1e-10


def captioned_images(seed, n_images=150, dx=9, dy=40):
    """Images with 1 to 7 captions each, shuffled, the captions depending on their image."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_images, dx)) + 3.0
    image_index = rng.permutation(np.repeat(np.arange(n_images), rng.integers(1, 8, n_images)))
    mixing = rng.normal(size=(dx, dy))
    Y = X[image_index] @ mixing + 2.0 * rng.normal(size=(len(image_index), dy)) - 1.0
    return X, Y, image_index


FITS = {
    "image_index": lambda X, Y, index: (X, Y, index),
    "stacked": lambda X, Y, index: (X[index], Y, None),
}


@pytest.mark.parametrize("fit", FITS)
@pytest.mark.parametrize("reg", [0.0, 1e-3, 0.1])
def test_fit_in_place_equals_the_textbook_cca(fit, reg):
    X, Y, index = FITS[fit](*captioned_images(0))
    model = CCA(n_components=6, reg=reg).fit(X, Y, image_index=index)
    errors = relative_errors(model, reference_cca(X, Y, index, 6, reg))
    assert max(errors.values()) < TOLERANCE, errors


@pytest.mark.parametrize("fit", FITS)
def test_every_reg_of_a_grid_from_stored_moments_equals_the_textbook_cca(fit, tmp_path):
    X, Y, index = FITS[fit](*captioned_images(1))
    save_moments(covariances(X, Y, index, chunk_rows=64, block_rows=64), tmp_path / "moments")
    stored = load_moments(tmp_path / "moments")
    buffers = CholeskyBuffers(stored)
    held = None
    for reg in (1e-3, 1e-2, 0.1, 0.0):
        model = CCA(n_components=6, reg=reg).fit_covariances(stored, buffers)
        errors = relative_errors(model, reference_cca(X, Y, index, 6, reg))
        assert max(errors.values()) < TOLERANCE, (reg, errors)
        # One buffer per side for the whole grid: the text side's is refilled, not reallocated.
        buffer = buffers._buffers["yy"]
        assert held is None or buffer is held
        held = buffer


def test_the_grid_search_from_stored_moments_scores_the_textbook_models(tmp_path):
    X, Y, index = captioned_images(2, n_images=200)
    train = np.isin(index, np.arange(150))
    X_val, Y_val, val_index = X[150:], Y[~train], index[~train] - 150
    save_moments(covariances(X, Y[train], index[train]), tmp_path / "moments")
    grid = {"n_components": [3, 6], "reg": [1e-3, 0.1], "scale_power": [1.0]}

    result = grid_search(load_moments(tmp_path / "moments"), X_val, Y_val, val_index, **grid)

    for row in result.table:
        s, xw, yw, xm, ym = reference_cca(X, Y[train], index[train], 6, row["reg"])
        k = row["n_components"]
        images = (X_val - xm) @ xw[:, :k] * s[:k]
        captions = (Y_val - ym) @ yw[:, :k] * s[:k]
        metrics = metrics_from_ranks(*ranks(images, captions, val_index), RSUM_KS)
        compared = 0
        for direction, values in metrics.items():
            for name, value in values.items():
                column = f"{direction}_{name}"
                if column in row:
                    assert row[column] == pytest.approx(value, abs=1e-10), column
                    compared += 1
        assert compared == 2 * len(RSUM_KS)


def test_stored_moments_are_one_packed_triangle_per_side(tmp_path):
    X, Y, index = captioned_images(3)
    cov = covariances(X, Y, index)
    save_moments(cov, tmp_path)
    dy = Y.shape[1]
    header = 128  # numpy's .npy header, padded to 64 bytes
    assert (tmp_path / "yy.npy").stat().st_size == header + dy * (dy + 1) // 2 * 8
    stored = load_moments(tmp_path)
    np.testing.assert_array_equal(stored.lower("yy"), cov.yy)
    np.testing.assert_array_equal(stored.lower("xx"), cov.xx)
    np.testing.assert_array_equal(stored.xy, cov.xy)
    assert stored.n_pairs == len(Y)
    np.testing.assert_allclose(symmetric(stored.lower("yy")), np.cov(Y.T, bias=True), atol=1e-12)
