import json
import subprocess
import sys
import warnings

import numpy as np
import pytest
import scipy.linalg

from tie.features.precision import stored_precision
from tie.features.store import FeatureRows, RowSubset
from tie.joint.cca import (
    CCA,
    FITTED_ATTRIBUTES,
    InvalidParam,
    _largest_eigenvalue,
    _sign_convention,
    _top_singular_triplets,
)
from tie.joint.retrieval import ranks
from tie.moments.store import symmetric
from tie.moments.stream import BLOCK_ROWS, covariances


def correlated_views(rng, n, dx=6, dy=4):
    """Random paired data with some shared structure between the views."""
    shared = rng.normal(size=(n, 3))
    X = shared @ rng.normal(size=(3, dx)) + rng.normal(size=(n, dx))
    Y = shared @ rng.normal(size=(3, dy)) + rng.normal(size=(n, dy))
    return X, Y


def test_correlations_match_generalised_eigenproblem():
    rng = np.random.default_rng(0)
    X, Y = correlated_views(rng, n=200)
    dx, dy, k = X.shape[1], Y.shape[1], 4
    Xc, Yc = X - X.mean(axis=0), Y - Y.mean(axis=0)
    cov_xx, cov_yy, cov_xy = Xc.T @ Xc, Yc.T @ Yc, Xc.T @ Yc
    # [[0, Cxy], [Cyx, 0]] w = rho [[Cxx, 0], [0, Cyy]] w: eigenvalues are +-rho and zeros.
    A = np.block([[np.zeros((dx, dx)), cov_xy], [cov_xy.T, np.zeros((dy, dy))]])
    B = scipy.linalg.block_diag(cov_xx, cov_yy)
    expected = np.sort(scipy.linalg.eigh(A, B, eigvals_only=True))[::-1][:k]

    model = CCA(n_components=k, reg=0).fit(X, Y)

    np.testing.assert_allclose(model.correlations_, expected, rtol=1e-10)
    assert np.all(np.diff(model.correlations_) <= 0)


def test_projections_are_correlated_per_component_and_uncorrelated_across():
    rng = np.random.default_rng(1)
    X, Y = correlated_views(rng, n=200)
    model = CCA(n_components=4, reg=0, scale_power=0).fit(X, Y)
    x_emb, y_emb = model.transform(X, Y)

    k = model.n_components
    corr = np.corrcoef(x_emb, y_emb, rowvar=False)
    np.testing.assert_allclose(np.diag(corr[:k, k:]), model.correlations_, rtol=1e-10)
    off_diagonal = ~np.eye(k, dtype=bool)
    np.testing.assert_allclose(corr[:k, :k][off_diagonal], 0, atol=1e-10)
    np.testing.assert_allclose(corr[k:, k:][off_diagonal], 0, atol=1e-10)
    np.testing.assert_allclose(corr[:k, k:][off_diagonal], 0, atol=1e-10)
    # With scale_power=0 the training projections have unit variance.
    np.testing.assert_allclose(x_emb.var(axis=0), 1, rtol=1e-10)


def test_scale_power_multiplies_components_by_correlations():
    rng = np.random.default_rng(2)
    X, Y = correlated_views(rng, n=200)
    plain = CCA(n_components=3, scale_power=0).fit(X, Y)
    scaled = CCA(n_components=3, scale_power=2).fit(X, Y)
    np.testing.assert_allclose(
        scaled.transform(X), plain.transform(X) * plain.correlations_**2, rtol=1e-10
    )


def test_recovers_planted_canonical_correlations():
    rng = np.random.default_rng(3)
    n, planted = 20_000, np.array([0.9, 0.6, 0.3])
    latent = rng.normal(size=(n, len(planted)))
    # Unit-variance pairs with correlation rho: sqrt(rho) z + sqrt(1 - rho) noise.
    x_signal = np.sqrt(planted) * latent + np.sqrt(1 - planted) * rng.normal(size=latent.shape)
    y_signal = np.sqrt(planted) * latent + np.sqrt(1 - planted) * rng.normal(size=latent.shape)
    # Extra independent dimensions, then an invertible mixing of each view, which leaves
    # the canonical correlations unchanged.
    x_sources = np.hstack([x_signal, rng.normal(size=(n, 3))])
    y_sources = np.hstack([y_signal, rng.normal(size=(n, 2))])
    X = x_sources @ rng.normal(size=(6, 6))
    Y = y_sources @ rng.normal(size=(5, 5))

    model = CCA(n_components=3, reg=0).fit(X, Y)

    np.testing.assert_allclose(model.correlations_, planted, atol=0.02)


def test_image_index_fit_equals_stacked_pairs_fit():
    rng = np.random.default_rng(4)
    n_images = 60
    X = rng.normal(size=(n_images, 5))
    captions_per_image = rng.integers(1, 7, size=n_images)
    captions_per_image[7] = 0  # an image without captions does not take part
    image_index = np.repeat(np.arange(n_images), captions_per_image)
    rng.shuffle(image_index)
    Y = X[image_index] @ rng.normal(size=(5, 4)) + rng.normal(size=(len(image_index), 4))

    structured = CCA(n_components=4, reg=1e-2).fit(X, Y, image_index=image_index)
    stacked = CCA(n_components=4, reg=1e-2).fit(X[image_index], Y)

    np.testing.assert_allclose(structured.correlations_, stacked.correlations_, rtol=1e-10)
    np.testing.assert_allclose(structured.x_mean_, stacked.x_mean_, rtol=1e-12)
    x_structured, y_structured = structured.transform(X, Y)
    x_stacked, y_stacked = stacked.transform(X, Y)
    signs = np.sign(np.sum(x_structured * x_stacked, axis=0))
    np.testing.assert_allclose(x_structured, x_stacked * signs, atol=1e-10)
    np.testing.assert_allclose(y_structured, y_stacked * signs, atol=1e-10)


def test_regularisation_shrinks_correlations():
    rng = np.random.default_rng(5)
    X, Y = correlated_views(rng, n=200)
    plain = CCA(n_components=4, reg=0).fit(X, Y)
    ridged = CCA(n_components=4, reg=0.1).fit(X, Y)
    assert np.all(ridged.correlations_ < plain.correlations_)


def test_reg_is_relative_to_the_largest_eigenvalue():
    rng = np.random.default_rng(6)
    X, Y = correlated_views(rng, n=200)
    model = CCA(n_components=4, reg=0.1).fit(X, Y)
    rescaled = CCA(n_components=4, reg=0.1).fit(X * 1000, Y)
    np.testing.assert_allclose(rescaled.correlations_, model.correlations_, rtol=1e-10)


def test_save_load_round_trip(tmp_path):
    rng = np.random.default_rng(7)
    X, Y = correlated_views(rng, n=100)
    model = CCA(n_components=3, reg=1e-3, scale_power=4.0).fit(X, Y)
    model.save(tmp_path / "model")

    loaded = CCA.load(tmp_path / "model")

    assert (loaded.n_components, loaded.reg, loaded.scale_power) == (3, 1e-3, 4.0)
    for name, _ in FITTED_ATTRIBUTES:  # as stored: at the stored precision, exactly
        np.testing.assert_array_equal(getattr(loaded, name), stored_precision(getattr(model, name)))
    for expected, actual in zip(model.transform(X, Y), loaded.transform(X, Y), strict=True):
        np.testing.assert_allclose(actual, expected, atol=1e-4 * np.abs(expected).max())
    summary = json.loads((tmp_path / "model" / "cca.json").read_text())
    assert summary["correlations"] == loaded.correlations_.tolist()
    assert summary["x_weights_shape"] == [6, 3]


def test_load_missing_file_says_which_and_how_to_make_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"cca\.json.*dvc repro cca"):
        CCA.load(tmp_path)


def test_n_components_larger_than_feature_dimension():
    rng = np.random.default_rng(8)
    X, Y = correlated_views(rng, n=50, dx=6, dy=4)
    with pytest.raises(InvalidParam, match=r"^n_components=5 exceeds 4.*caption features"):
        CCA(n_components=5).fit(X, Y)
    with pytest.raises(InvalidParam, match="^n_components=0 must be a positive integer"):
        CCA(n_components=0).fit(X, Y)


def test_as_many_components_as_images_warns_naming_both_numbers():
    rng = np.random.default_rng(10)
    X, _ = correlated_views(rng, n=8, dx=12, dy=12)  # 8 images
    Y = rng.normal(size=(24, 12))  # 3 captions each
    image_index = np.repeat(np.arange(8), 3)
    with pytest.warns(
        UserWarning,
        match=r"n_components = 8 is not below the number of images"
        r" fitted \(8\): the fit is degenerate",
    ):
        model = CCA(n_components=8, reg=1e-4).fit(X, Y, image_index=image_index)
    assert model.correlations_[-1] < 1e-6  # 8 centred images span 7 directions: nothing left
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        CCA(n_components=7, reg=1e-4).fit(X, Y, image_index=image_index)


def test_reg_zero_with_rank_deficient_features_asks_for_reg():
    rng = np.random.default_rng(9)
    X, Y = correlated_views(rng, n=100)
    X = np.hstack([X, X[:, :2] @ [[2.0], [-1.0]]])  # a column that is a combination of two
    with pytest.raises(InvalidParam, match=r"^reg=0 cannot whiten the covariance of X"):
        CCA(n_components=3, reg=0).fit(X, Y)
    CCA(n_components=3, reg=1e-3).fit(X, Y)  # the ridge makes it solvable


def test_transform_before_fit():
    with pytest.raises(RuntimeError, match="not fitted"):
        CCA().transform(np.zeros((2, 3)))


@pytest.mark.parametrize(
    ("X", "Y", "image_index", "message"),
    [
        (np.ones((10, 3)), np.ones((9, 3)), None, "one row per pair"),
        (np.full((10, 3), np.nan), np.ones((10, 3)), None, "NaN"),
        (np.ones((4, 3)), np.ones((9, 3)), np.zeros(8, dtype=int), "needs one entry per caption"),
        (np.ones((4, 3)), np.ones((9, 3)), np.full(9, 4), r"in 0\.\.3"),
        (np.ones((4, 3)), np.ones((9, 3)), np.zeros(9), "integer"),
    ],
)
def test_invalid_inputs(X, Y, image_index, message):
    with pytest.raises(ValueError, match=message):
        CCA(n_components=2).fit(X, Y, image_index=image_index)


def test_transform_rejects_other_feature_dimension():
    rng = np.random.default_rng(10)
    X, Y = correlated_views(rng, n=50)
    model = CCA(n_components=2).fit(X, Y)
    with pytest.raises(ValueError, match="X has 5 features but this CCA was fitted on 6"):
        model.transform(X[:, :5])
    with pytest.raises(ValueError, match="Y has 3 features but this CCA was fitted on 4"):
        model.transform(X, Y[:, :3])


def captioned_images(rng, n_images=40, dx=6, dy=4, shuffle=True):
    """One row of X per image, 0 to 6 captions per image (some none), in shuffled order."""
    X = rng.normal(size=(n_images, dx))
    image_index = np.repeat(np.arange(n_images), rng.integers(0, 7, size=n_images))
    if shuffle:
        rng.shuffle(image_index)
    Y = X[image_index] @ rng.normal(size=(dx, dy)) + rng.normal(size=(len(image_index), dy))
    return X, Y, image_index


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("chunk_rows, block_rows", [(1, 1), (7, 7), (40, 5), (7, BLOCK_ROWS)])
def test_covariances_do_not_depend_on_the_chunks(chunk_rows, block_rows, shuffle):
    rng = np.random.default_rng(11)
    X, Y, image_index = captioned_images(rng, shuffle=shuffle)
    whole = covariances(X, Y, image_index, chunk_rows=len(Y))
    chunked = covariances(X, Y, image_index, chunk_rows=chunk_rows, block_rows=block_rows)
    for name in ("x_mean", "y_mean", "xx", "yy", "xy"):
        np.testing.assert_allclose(getattr(chunked, name), getattr(whole, name), atol=1e-12)
    # And they are the covariances of the stacked pairs.
    stacked = np.hstack([X[image_index], Y])
    expected = np.cov(stacked, rowvar=False, bias=True)
    np.testing.assert_allclose(symmetric(whole.xx), expected[:6, :6], atol=1e-12)
    np.testing.assert_allclose(symmetric(whole.yy), expected[6:, 6:], atol=1e-12)
    # Held as lower triangles: nothing is ever written above the diagonal.
    assert not np.triu(whole.xx, 1).any() and not np.triu(whole.yy, 1).any()
    np.testing.assert_allclose(whole.xy, expected[:6, 6:], atol=1e-12)


@pytest.mark.parametrize("shuffle", [False, True])
def test_covariances_are_the_same_bits_whatever_the_chunk_size(shuffle):
    """The sums run over fixed blocks of captions: a chunk (what is read at once) is a
    whole number of blocks, so its size cannot change a bit; blocks of 4 captions split
    images' captions across blocks."""
    rng = np.random.default_rng(14)
    X, Y, image_index = captioned_images(rng, n_images=60, shuffle=shuffle)
    reference = covariances(X, Y, image_index, chunk_rows=4, block_rows=4)
    for chunk_rows in (8, 13, 36, len(Y) + 4):
        chunked = covariances(X, Y, image_index, chunk_rows=chunk_rows, block_rows=4)
        for name in ("x_mean", "y_mean", "xx", "yy", "xy"):
            np.testing.assert_array_equal(getattr(chunked, name), getattr(reference, name))


def test_covariances_read_only_the_rows_they_need(tmp_path):
    """Feature files are read through `FeatureRows`; a `RowSubset` of the caption file is
    streamed without a copy, and images without captions are never read."""
    rng = np.random.default_rng(15)
    X, Y, image_index = captioned_images(rng, n_images=50, dx=5, dy=9)
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    np.save(tmp_path / "Y.npy", Y.astype(np.float32))
    keep = np.flatnonzero(image_index % 3 != 0)  # a "train split" of the captions
    expected = covariances(X.astype(np.float32), Y.astype(np.float32)[keep], image_index[keep])

    class CountingRows(FeatureRows):
        read = 0

        def __getitem__(self, index):
            rows = super().__getitem__(index)
            CountingRows.read += len(rows)
            return rows

    X_rows = CountingRows(tmp_path / "X.npy")
    got = covariances(
        X_rows, RowSubset(FeatureRows(tmp_path / "Y.npy"), keep), image_index[keep], block_rows=8
    )
    for name in ("x_mean", "y_mean", "xx", "yy", "xy"):
        np.testing.assert_allclose(getattr(got, name), getattr(expected, name), atol=1e-12)
    captioned = len(np.unique(image_index[keep]))
    blocks = -(-len(keep) // 8)
    # The one pass reads each captioned image once, plus once more per block it straddles.
    assert captioned <= CountingRows.read <= captioned + blocks


def test_memory_mapped_fit_equals_in_memory_fit(tmp_path):
    rng = np.random.default_rng(12)
    X, Y, image_index = captioned_images(rng, n_images=300, dx=8, dy=5)
    np.save(tmp_path / "X.npy", X.astype(np.float32))
    np.save(tmp_path / "Y.npy", Y.astype(np.float32))
    X_disk = np.load(tmp_path / "X.npy", mmap_mode="r")
    Y_disk = np.load(tmp_path / "Y.npy", mmap_mode="r")
    in_memory = CCA(n_components=4, reg=1e-3).fit(
        np.array(X_disk), np.array(Y_disk), image_index=image_index
    )

    mapped = CCA(n_components=4, reg=1e-3).fit(X_disk, Y_disk, image_index=image_index)
    streamed = CCA(n_components=4, reg=1e-3).fit_covariances(
        covariances(X_disk, Y_disk, image_index, chunk_rows=32)
    )

    for model in (mapped, streamed):
        np.testing.assert_allclose(model.correlations_, in_memory.correlations_, rtol=1e-10)
        for got, expected in zip(model.transform(X, Y), in_memory.transform(X, Y), strict=True):
            np.testing.assert_allclose(got, expected, atol=1e-9)


def test_truncated_equals_fitting_fewer_components():
    rng = np.random.default_rng(13)
    X, Y = correlated_views(rng, n=200)
    full = CCA(n_components=4, reg=1e-3, scale_power=1.0).fit(X, Y)
    direct = CCA(n_components=2, reg=1e-3, scale_power=3.0).fit(X, Y)

    truncated = full.truncated(2, scale_power=3.0)

    assert (truncated.n_components, truncated.reg, truncated.scale_power) == (2, 1e-3, 3.0)
    np.testing.assert_allclose(truncated.correlations_, direct.correlations_, rtol=1e-12)
    for got, expected in zip(truncated.transform(X, Y), direct.transform(X, Y), strict=True):
        np.testing.assert_allclose(got, expected, atol=1e-10)
    with pytest.raises(ValueError, match=r"integer in 1\.\.4"):
        full.truncated(5)


@pytest.mark.parametrize("shape", [(40, 90), (90, 40), (60, 60)])
@pytest.mark.parametrize("rank", [None, 5])
def test_top_singular_triplets_equal_the_svd(shape, rank):
    """Wide, tall and square; full rank, and rank 5 < k (the last triplets then have
    singular value ~0 and any orthonormal completion is a valid answer)."""
    rng = np.random.default_rng(21)
    matrix = rng.normal(size=shape)
    if rank:
        matrix = rng.normal(size=(shape[0], rank)) @ rng.normal(size=(rank, shape[1]))
    k = 8
    u, s, v = _top_singular_triplets(matrix, k)
    expected = scipy.linalg.svd(matrix, compute_uv=False)[:k]
    scale = expected[0]
    # A zero singular value comes out as up to sqrt(rounding) ~ 1e-8 of the largest.
    atol = (1e-7 if rank else 1e-10) * scale
    np.testing.assert_allclose(s, expected, atol=atol)
    np.testing.assert_allclose(u.T @ u, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(v.T @ v, np.eye(k), atol=1e-12)
    np.testing.assert_allclose(matrix.T @ u, v * s, atol=atol)
    np.testing.assert_allclose(matrix @ v, u * s, atol=atol)


@pytest.mark.parametrize("dimension", [5, 300])
def test_largest_eigenvalue_is_exact(dimension):
    """Above a few hundred dimensions it comes from Lanczos iterations: still exact."""
    rng = np.random.default_rng(14)
    samples = rng.normal(size=(2 * dimension, dimension)) * rng.uniform(0.1, 3, size=dimension)
    cov = samples.T @ samples / len(samples)
    expected = scipy.linalg.eigvalsh(cov)[-1]
    assert _largest_eigenvalue(cov) == pytest.approx(expected, rel=1e-12)


def test_constant_features_are_refused():
    rng = np.random.default_rng(15)
    X, Y = correlated_views(rng, n=50)
    with pytest.raises(ValueError, match="every feature of X is constant"):
        CCA(n_components=2).fit(np.ones_like(X), Y)


def test_all_zero_rows_stay_zero_and_rank_last():
    """A zero row ("no information") maps to zero in the joint space, for both views."""
    rng = np.random.default_rng(7)
    n_images, per_image = 30, 5
    shared = rng.normal(size=(n_images, 3))
    X = shared @ rng.normal(size=(3, 6)) + rng.normal(size=(n_images, 6)) + 2.0
    image_index = np.repeat(np.arange(n_images), per_image)
    Y = shared[image_index] @ rng.normal(size=(3, 4)) + rng.normal(size=(len(image_index), 4))
    Y += 1.0  # nonzero means: centring alone would move a zero row away from zero
    model = CCA(n_components=3, reg=1e-3, scale_power=1.0).fit(X, Y, image_index=image_index)

    zero_image, zero_captions = 4, [0, 17, 149]
    X[zero_image] = 0
    Y[zero_captions] = 0
    images, captions = model.transform(X, Y)

    assert not images[zero_image].any() and not captions[zero_captions].any()
    scale = model.correlations_**model.scale_power
    others_x = np.delete(np.arange(n_images), zero_image)
    others_y = np.delete(np.arange(len(Y)), zero_captions)
    np.testing.assert_allclose(
        images[others_x], (X[others_x] - model.x_mean_) @ model.x_weights_ * scale, rtol=1e-12
    )
    np.testing.assert_allclose(
        captions[others_y], (Y[others_y] - model.y_mean_) @ model.y_weights_ * scale, rtol=1e-12
    )
    assert model.transform(X[others_x]).tolist() == images[others_x].tolist()

    search, annotation = ranks(images, captions, image_index)
    # Cosine 0 with every image: the tie rule puts the true image last.
    assert search[zero_captions].tolist() == [n_images] * len(zero_captions)
    # An image with no information: every caption but its own scores as high.
    assert annotation[zero_image] == len(Y) - per_image + 1


def test_params_are_keyword_only():
    with pytest.raises(TypeError):
        CCA(4)
    assert CCA(n_components=4).n_components == 4


@pytest.mark.parametrize(
    ("params", "param", "message"),
    [
        ({"n_components": True}, "n_components", "n_components=True must be a positive integer"),
        ({"n_components": 2.0}, "n_components", "n_components=2.0 must be a positive integer"),
        ({"reg": float("nan")}, "reg", "reg=nan must be a number >= 0"),
        ({"reg": "abc"}, "reg", "reg='abc' must be a number >= 0"),
        ({"scale_power": float("inf")}, "scale_power", "scale_power=inf must be a number"),
        ({"scale_power": None}, "scale_power", "scale_power=None must be a number"),
    ],
)
def test_check_params_names_the_argument_first(params, param, message):
    with pytest.raises(InvalidParam) as raised:
        CCA(**{"n_components": 2} | params).check_params(5, 4)
    assert str(raised.value) == message
    assert raised.value.param == param


def test_every_fitted_attribute_is_saved_loaded_and_truncated(tmp_path):
    rng = np.random.default_rng(12)
    X, Y = correlated_views(rng, n=80)
    model = CCA(n_components=3, reg=1e-3).fit(X, Y)
    names = [name for name, _ in FITTED_ATTRIBUTES]
    assert sorted(names) == sorted(k for k in vars(model) if k.endswith("_"))
    model.save(tmp_path)
    loaded, short = CCA.load(tmp_path), model.truncated(2)
    for name, component_axis in FITTED_ATTRIBUTES:
        np.testing.assert_array_equal(getattr(loaded, name), stored_precision(getattr(model, name)))
        expected = getattr(model, name)
        if component_axis is not None:
            expected = np.take(expected, [0, 1], axis=component_axis)
        np.testing.assert_array_equal(getattr(short, name), expected)


def test_the_docstring_examples_run():
    import doctest

    import tie.joint.cca

    results = doctest.testmod(tie.joint.cca)
    assert results.attempted > 0 and results.failed == 0


def test_transform_captions_is_the_caption_half_of_transform():
    rng = np.random.default_rng(13)
    X, Y = correlated_views(rng, n=60)
    model = CCA(n_components=3, reg=1e-3, scale_power=2).fit(X, Y)
    np.testing.assert_array_equal(model.transform_captions(Y[:5]), model.transform(X, Y)[1][:5])


def test_blocked_gram_update_above_the_threaded_syrk_order_equals_the_covariance(monkeypatch):
    """Above `THREADED_SYRK_MAX_ORDER` the Gram update goes by column blocks (gemm); here
    both limits are lowered so that small data take that path, blocks of uneven size."""
    import tie.moments.blas

    monkeypatch.setattr(tie.moments.blas, "THREADED_SYRK_MAX_ORDER", 10)
    monkeypatch.setattr(tie.moments.blas, "GRAM_BLOCK", 7)
    rng = np.random.default_rng(30)
    X, Y = correlated_views(rng, n=120, dx=12, dy=37)
    image_index = rng.permutation(np.repeat(np.arange(40), 3))
    cov = covariances(X[:40], Y, image_index=image_index, chunk_rows=9)
    pairs_x, centred_y = X[:40][image_index], Y - Y.mean(axis=0)
    centred_x = pairs_x - pairs_x.mean(axis=0)
    np.testing.assert_allclose(
        symmetric(cov.yy), centred_y.T @ centred_y / 120, rtol=1e-12, atol=1e-14
    )
    np.testing.assert_allclose(
        symmetric(cov.xx), centred_x.T @ centred_x / 120, rtol=1e-12, atol=1e-14
    )
    assert not np.triu(cov.yy, 1).any()
    np.testing.assert_allclose(cov.xy, centred_x.T @ centred_y / 120, rtol=1e-12, atol=1e-14)


@pytest.mark.slow
def test_covariances_of_order_16384_complete(tmp_path):
    """OpenBLAS's threaded dsyrk crashes the process at this order on AVX-512 CPUs (its
    SkylakeX kernels); tie.moments.blas updates the Gram matrix by blocks there. In a subprocess: a
    crash is a failed test with its exit status, not a dead test run. (The Cholesky
    factorisation, on one thread at that order, is exercised at order 18,000 by
    benchmarks/cca_fisher.py: a minute of one core, too long for a test.)"""
    script = tmp_path / "large_order.py"
    script.write_text(
        "import numpy as np\n"
        "from tie.moments.stream import covariances\n"
        "rng = np.random.default_rng(0)\n"
        "X = rng.standard_normal((1000, 2))\n"
        "Y = rng.standard_normal((1000, 16384), dtype=np.float32)\n"
        "cov = covariances(X, Y)\n"
        "assert np.isclose(cov.yy[5, 3], np.cov(Y[:, [5, 3]].T, bias=True)[0, 1])\n"
        "print('completed', cov.yy.shape)\n"
    )
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert result.returncode == 0, f"exit status {result.returncode}: {result.stderr[-2000:]}"
    assert "completed (16384, 16384)" in result.stdout


def test_saved_model_is_the_same_bytes_whatever_the_blas_threads_and_chunks(tmp_path):
    """The last-bit differences of other thread counts and chunk sizes never reach the file.

    Fits under 1 and 2 BLAS threads, and with chunks of 7 and of all rows, differ in their
    last bits and (from the eigensolver) in the signs of components; the saved files do not.
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(3)
    n_images, dx, dy = 400, 60, 30
    X = rng.standard_normal((n_images, dx))
    image_index = np.repeat(np.arange(n_images), 5)
    Y = X[image_index] @ rng.standard_normal((dx, dy)) + rng.standard_normal((len(image_index), dy))
    fitted, files = [], set()
    for threads, chunk_rows in [(1, 7), (2, None), (2, 7), (1, None)]:
        with threadpool_limits(threads, user_api="blas"):
            cov = covariances(X, Y, image_index=image_index, chunk_rows=chunk_rows)
            model = CCA(n_components=20, reg=1e-3).fit_covariances(cov)
        fitted.append(model)
        folder = tmp_path / f"{threads}-{chunk_rows}"
        model.save(folder)
        files.add(tuple((folder / name).read_bytes() for name in ("cca.npz", "cca.json")))
    assert len(files) == 1
    # What the file is made of: the same fit up to rounding, signs made the same.
    for model in fitted[1:]:
        np.testing.assert_allclose(model.x_weights_, fitted[0].x_weights_, atol=1e-9)
        np.testing.assert_allclose(model.correlations_, fitted[0].correlations_, rtol=1e-12)


def test_sign_convention_makes_the_largest_entry_of_each_u_positive_keeping_the_product():
    rng = np.random.default_rng(0)
    u, s, v = (
        rng.standard_normal((6, 4)),
        np.array([4.0, 3.0, 2.0, 1.0]),
        rng.standard_normal((5, 4)),
    )
    flipped_u, flipped_s, flipped_v = _sign_convention(u, s, v)
    assert (flipped_u[np.argmax(np.abs(u), axis=0), np.arange(4)] > 0).all()
    np.testing.assert_array_equal(flipped_u * flipped_s @ flipped_v.T, u * s @ v.T)
    np.testing.assert_array_equal(_sign_convention(-u, s, -v)[0], flipped_u)
