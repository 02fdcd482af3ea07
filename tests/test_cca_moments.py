"""CCA statistics from chunk partials merged pairwise (Chan, Golub, LeVeque): the same as one pass.

These are the statistics the Ray engine computes on workers (`tie.ray_engine`); here the
chunks are summarised and merged in this process, against the single pass and against
numpy's covariance of the explicitly stacked pairs.
"""

import numpy as np
import pytest

from tie.moments.merge import Moments, chunk_moments, combine_moments, image_chunks
from tie.moments.store import symmetric
from tie.moments.stream import covariances


def relative_error(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def merged(X, Y, image_index, chunk_rows):
    total = Moments.empty(X.shape[1], Y.shape[1])
    for rows, positions, local_index in image_chunks(len(X), image_index, chunk_rows):
        total = combine_moments(total, chunk_moments(X[rows], Y[positions], local_index))
    return total.covariances()


@pytest.fixture
def views():
    """Images with 0 to 4 captions each, in shuffled order, and an offset far from zero."""
    rng = np.random.default_rng(0)
    n_images, dx, dy = 60, 7, 5
    X = rng.normal(size=(n_images, dx)) + 100.0
    counts = rng.integers(0, 5, size=n_images)
    counts[:3] = [0, 1, 0]  # chunks of one row: no pair, one pair, no pair
    image_index = rng.permutation(np.repeat(np.arange(n_images), counts))
    Y = X[image_index, :dy] * 0.5 + rng.normal(size=(len(image_index), dy)) - 30.0
    return X.astype(np.float32), Y.astype(np.float32), image_index


@pytest.mark.parametrize("chunk_rows", [1, 7, 60])
def test_merged_chunk_moments_equal_the_single_pass(views, chunk_rows):
    X, Y, image_index = views
    single = covariances(X, Y, image_index)
    combined = merged(X, Y, image_index, chunk_rows)

    assert combined.n_pairs == single.n_pairs == len(Y)
    for name in ("x_mean", "y_mean", "xx", "yy", "xy"):
        assert relative_error(getattr(combined, name), getattr(single, name)) < 1e-12, name


def test_merged_moments_equal_the_covariance_of_the_stacked_pairs(views):
    X, Y, image_index = views
    pairs = np.hstack([X[image_index], Y]).astype(np.float64)
    reference = np.cov(pairs, rowvar=False, bias=True)  # normalised by n, as ours
    dx = X.shape[1]

    combined = merged(X, Y, image_index, chunk_rows=9)

    assert relative_error(symmetric(combined.xx), reference[:dx, :dx]) < 1e-12
    assert relative_error(symmetric(combined.yy), reference[dx:, dx:]) < 1e-12
    # Lower triangles: the upper stays zero through the merges.
    assert not np.triu(combined.xx, 1).any() and not np.triu(combined.yy, 1).any()
    assert relative_error(combined.xy, reference[:dx, dx:]) < 1e-12
    np.testing.assert_allclose(combined.x_mean, pairs[:, :dx].mean(axis=0), rtol=1e-13)


def test_paired_rows_without_an_image_index(views):
    X, Y, image_index = views
    paired_x = X[image_index]
    single = covariances(paired_x, Y)
    combined = merged(paired_x, Y, None, chunk_rows=10)
    assert relative_error(combined.xy, single.xy) < 1e-12
    assert relative_error(combined.yy, single.yy) < 1e-12


def test_merging_with_no_pairs_changes_nothing(views):
    X, Y, image_index = views
    some = chunk_moments(X, Y, image_index)
    into_empty = combine_moments(Moments.empty(X.shape[1], Y.shape[1]), some)
    for name in ("n_pairs", "x_mean", "y_mean", "xx", "yy", "xy"):
        np.testing.assert_array_equal(getattr(into_empty, name), getattr(some, name))
    assert combine_moments(some, Moments.empty(X.shape[1], Y.shape[1])) is some
    with pytest.raises(ValueError, match="at least 2 pairs"):
        Moments.empty(2, 2).covariances()


def test_the_chunk_size_is_read_when_a_fit_starts_not_at_import(monkeypatch):
    from tie.errors import TieError
    from tie.moments.stream import CHUNK_BYTES, chunk_bytes

    monkeypatch.delenv("TIE_CCA_CHUNK_MB", raising=False)
    assert chunk_bytes() == CHUNK_BYTES == 16 * 2**20
    monkeypatch.setenv("TIE_CCA_CHUNK_MB", "0.5")  # after the import: still counts
    assert chunk_bytes() == 2**19
    monkeypatch.setenv("TIE_CCA_CHUNK_MB", "lots")
    with pytest.raises(TieError, match=r"^TIE_CCA_CHUNK_MB='lots': a number of megabytes"):
        chunk_bytes()
