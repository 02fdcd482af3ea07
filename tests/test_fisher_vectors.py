"""Mixtures (GMM, LMM, HGLMM) and Fisher vectors, against the mathematics they implement."""

import numpy as np
import pytest

from tie.text.fisher_vectors import FisherVectors, caption_matrix, word_codes
from tie.text.mixtures import GMM, HGLMM, LMM

FAMILIES = {"gmm": GMM, "lmm": LMM, "hglmm": HGLMM}


def mixed_words(n=400, seed=0):
    """Word-like vectors: 2 Gaussian and 2 Laplacian dimensions, two clusters."""
    rng = np.random.default_rng(seed)
    centre = np.where(rng.random(n) < 0.6, 1.0, -1.0)[:, None]
    gaussian = rng.normal(size=(n, 2)) * 0.5
    laplacian = rng.laplace(size=(n, 2)) * 0.5
    return np.hstack([gaussian, laplacian]) + centre * np.array([1.0, -0.5, 0.8, 0.3])


def mean_log_likelihood(mixture, words):
    return mixture.score_samples(words).mean()


def finite_difference(mixture, words, attribute, k, d, h=1e-6):
    values = getattr(mixture, attribute)
    original = values[k, d]
    values[k, d] = original + h
    up = mean_log_likelihood(mixture, words)
    values[k, d] = original - h
    down = mean_log_likelihood(mixture, words)
    values[k, d] = original
    return (up - down) / (2 * h)


@pytest.mark.parametrize("name", FAMILIES)
def test_fisher_vector_is_the_normalised_gradient_of_the_mean_log_likelihood(name):
    vocabulary = mixed_words()
    encoder = FisherVectors(mixture=name, n_components=2, normalize=False, seed=0)
    encoder.fit(vocabulary[:300])
    mixture = encoder.mixtures_[0]
    if name == "hglmm":  # the check must cover both kinds of dimension
        assert mixture.gaussian_.any() and not mixture.gaussian_.all()
    caption = [300, 301, 302, 303, 301]  # words the mixture was not fitted on, one twice
    words = encoder.preprocess(vocabulary[caption])
    codes = word_codes(mixture, words).toarray().mean(axis=0)  # float64, before power + L2
    # The encoder's float32 output is the same mean of per-word codes.
    fisher_vector = encoder.encode([caption], vocabulary)[0]
    np.testing.assert_allclose(fisher_vector, codes, rtol=1e-5, atol=1e-6)

    K, D = mixture.means_.shape
    location, scale = np.empty((K, D)), np.empty((K, D))
    for k in range(K):
        for d in range(D):
            w, s = mixture.weights_[k], mixture.scales_[k, d]
            # Inverse square roots of the closed-form Fisher information per word.
            location[k, d] = finite_difference(mixture, words, "means_", k, d) * s / np.sqrt(w)
            scale_information = (2 if mixture.gaussian_[k, d] else 1) * w / s**2
            gradient = finite_difference(mixture, words, "scales_", k, d)
            scale[k, d] = gradient / np.sqrt(scale_information)
    expected = np.concatenate([location.ravel(), scale.ravel()])
    np.testing.assert_allclose(codes, expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", FAMILIES)
def test_em_never_decreases_the_log_likelihood(name):
    X = mixed_words(300, seed=1)
    history = [
        FAMILIES[name](n_components=3, max_iter=i, tol=-np.inf, seed=0).fit(X).log_likelihood_
        for i in range(12)
    ]
    assert np.all(np.diff(history) >= -1e-10), history
    assert history[-1] > history[0]
    model = FAMILIES[name](n_components=3, max_iter=11, tol=-np.inf, seed=0).fit(X)
    assert model.score(X) == pytest.approx(model.log_likelihood_, abs=1e-12)


def planted(sampler, n=6000, seed=0):
    """Samples of three separated components: weights .5/.3/.2, known locations and scales."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.5, 0.3, 0.2])
    means = np.array([[0.0, 0.0], [6.0, 1.0], [-3.0, 7.0]])
    scales = np.array([[1.0, 0.5], [0.4, 1.2], [0.8, 0.8]])
    labels = rng.choice(3, size=n, p=weights)
    X = means[labels] + scales[labels] * sampler(rng, (n, 2))
    return X, weights, means, scales


def matched(model, means):
    """The model's components in the planted order (nearest location)."""
    order = [int(np.argmin(((model.means_ - m) ** 2).sum(1))) for m in means]
    assert sorted(order) == [0, 1, 2]
    return order


@pytest.mark.parametrize(
    "cls, sampler",
    [(GMM, lambda rng, shape: rng.normal(size=shape)), (LMM, lambda rng, s: rng.laplace(size=s))],
)
def test_em_recovers_a_planted_mixture(cls, sampler):
    X, weights, means, scales = planted(sampler)
    model = cls(n_components=3, seed=0).fit(X)
    order = matched(model, means)
    assert model.converged_
    np.testing.assert_allclose(model.weights_[order], weights, atol=0.02)
    np.testing.assert_allclose(model.means_[order], means, atol=0.08)
    np.testing.assert_allclose(model.scales_[order], scales, rtol=0.08)


def test_hglmm_recovers_which_dimensions_are_gaussian_and_which_laplacian():
    rng = np.random.default_rng(3)
    n = 4000
    is_gaussian = np.array([[True, True, False, False], [False, True, True, False]])
    means = np.array([[0.0, 0.0, 0.0, 0.0], [8.0, -6.0, 7.0, 9.0]])
    blocks = []
    for k in range(2):
        noise = np.where(is_gaussian[k], rng.normal(size=(n, 4)), rng.laplace(size=(n, 4)))
        blocks.append(means[k] + noise)
    model = HGLMM(n_components=2, seed=0).fit(np.vstack(blocks))
    order = [int(np.argmin(((model.means_ - m) ** 2).sum(1))) for m in means]
    np.testing.assert_array_equal(model.gaussian_[order], is_gaussian)
    np.testing.assert_allclose(model.means_[order], means, atol=0.08)
    np.testing.assert_allclose(model.scales_[order], 1.0, rtol=0.08)


def test_mixtures_survive_duplicate_points_and_more_components_than_clusters():
    X = np.repeat(np.array([[0.0, 0.0], [5.0, 5.0], [0.0, 9.0]]), 50, axis=0)
    for cls in FAMILIES.values():
        model = cls(n_components=5, seed=0).fit(X)
        assert np.all(model.weights_ > 0) and model.weights_.sum() == pytest.approx(1)
        assert np.all(model.scales_ > 0)
        assert np.isfinite(model.score_samples(X)).all()


@pytest.mark.parametrize("name", ["gmm", "lmm", "hglmm", "gmm+hglmm"])
def test_caption_fisher_vector_ignores_word_order_and_is_zero_without_words(name):
    vocabulary = mixed_words(200, seed=2)
    encoder = FisherVectors(mixture=name, n_components=2, seed=0).fit(vocabulary)
    captions = [[3, 17, 42, 17], [17, 42, 3, 17], [], [5]]
    out = encoder.encode(captions, vocabulary)
    parts = len(name.split("+"))
    assert out.shape == (4, parts * 2 * 2 * 4) == (4, encoder.n_features_out)
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[2], 0)
    # Signed square root + L2 per mixture: each part of a non-empty caption has unit norm.
    for part in np.split(out[[0, 3]], parts, axis=1):
        np.testing.assert_allclose(np.linalg.norm(part, axis=1), 1.0, rtol=1e-5)


def test_improved_fisher_vector_is_the_signed_square_root_then_l2_of_each_mixture_part():
    vocabulary = mixed_words(200, seed=6)
    captions = [[0, 1, 2, 2], [], [7], [9, 11, 13, 15, 17]]
    raw = FisherVectors(mixture="gmm+hglmm", n_components=3, normalize=False, seed=0)
    improved = FisherVectors(mixture="gmm+hglmm", n_components=3, seed=0)
    raw = raw.fit(vocabulary).encode(captions, vocabulary).astype(np.float64)
    expected = []
    for part in np.split(raw, 2, axis=1):
        part = np.sign(part) * np.sqrt(np.abs(part))
        norms = np.linalg.norm(part, axis=1, keepdims=True)
        expected.append(np.divide(part, norms, out=np.zeros_like(part), where=norms > 0))
    out = improved.fit(vocabulary).encode(captions, vocabulary)
    np.testing.assert_allclose(out, np.hstack(expected), rtol=1e-5, atol=1e-7)


def test_gmm_plus_hglmm_concatenates_the_two_fisher_vectors():
    vocabulary = mixed_words(200, seed=4)
    captions = [[0, 1, 2], [7], [9, 9, 11]]
    both = FisherVectors(mixture="gmm+hglmm", n_components=2, seed=0).fit(vocabulary)
    gmm = FisherVectors(mixture="gmm", n_components=2, seed=0).fit(vocabulary)
    hglmm = FisherVectors(mixture="hglmm", n_components=2, seed=0).fit(vocabulary)
    expected = np.hstack([gmm.encode(captions, vocabulary), hglmm.encode(captions, vocabulary)])
    np.testing.assert_allclose(both.encode(captions, vocabulary), expected, rtol=1e-6)


@pytest.mark.parametrize("reduce", ["pca", "ica"])
def test_reduction_is_fitted_on_normalised_word_vectors_and_capped_at_their_dimension(reduce):
    vocabulary = mixed_words(200, seed=5) * np.arange(1, 201)[:, None]  # lengths vary
    encoder = FisherVectors(mixture="gmm", n_components=2, reduce=reduce, reduced_dim=300)
    encoder.fit(vocabulary)
    assert encoder.dim_ == 4 and encoder.n_features_out == 16
    # Only directions matter: a word vector and a multiple of it have the same FV.
    np.testing.assert_allclose(
        encoder.encode([[0]], vocabulary), encoder.encode([[0]], 7 * vocabulary), rtol=1e-5
    )
    small = FisherVectors(mixture="gmm", n_components=2, reduce=reduce, reduced_dim=3)
    assert small.fit(vocabulary).encode([[0, 1]], vocabulary).shape == (1, 12)


def test_caption_matrix_holds_word_frequencies():
    matrix = caption_matrix([[2, 0, 2, 1], [], [1]], n_words=3).toarray()
    np.testing.assert_allclose(matrix, [[0.25, 0.25, 0.5], [0, 0, 0], [0, 1, 0]])


def test_leaving_out_negligible_posteriors_keeps_the_fisher_vector_to_float32_precision():
    rng = np.random.default_rng(6)
    centres = rng.normal(size=(6, 40)) * 3
    vocabulary = centres[rng.integers(0, 6, size=600)] + rng.normal(size=(600, 40))
    encoder = FisherVectors(mixture="hglmm", n_components=6, normalize=False, seed=0)
    encoder.fit(vocabulary)
    captions = [rng.integers(0, 600, size=8).tolist() for _ in range(20)]
    mixture, words = encoder.mixtures_[0], encoder.preprocess(vocabulary)
    sparse = encoder.encode(captions, vocabulary)
    assert encoder.word_codes(vocabulary).nnz < word_codes(mixture, words).nnz / 3
    exact = np.array([word_codes(mixture, words[c]).toarray().mean(axis=0) for c in captions])
    np.testing.assert_allclose(sparse, exact, rtol=1e-5, atol=1e-6)


def test_a_saved_encoder_loads_and_encodes_the_same(tmp_path):
    vocabulary = mixed_words(200, seed=7)
    encoder = FisherVectors(mixture="gmm+hglmm", n_components=2, reduce="pca", reduced_dim=3)
    encoder.fit(vocabulary)
    encoder.save(tmp_path / "fisher")
    loaded = FisherVectors.load(tmp_path / "fisher")
    captions = [[0, 4, 9], [], [150]]
    # The arrays are stored at tie.features.precision's precision: the vectors agree to about 1e-5.
    np.testing.assert_allclose(
        loaded.encode(captions, vocabulary), encoder.encode(captions, vocabulary), atol=1e-4
    )
    assert loaded.summary() == encoder.summary()
    assert [m["mixture"] for m in loaded.summary()] == ["gmm", "hglmm"]


def test_the_provenance_of_a_fisher_run_names_its_mixture_and_of_a_mean_run_does_not():
    from tie.results.provenance import from_mlflow

    logged = {"dataset": "demo", "text": "glove", "caption_vectors.idf": "False"}
    logged |= {"fisher.mixture": "hglmm", "fisher.n_components": "4"}
    fisher = from_mlflow(logged | {"caption_vectors.pooling": "fisher"}, {})
    assert fisher.pooling["fisher.mixture"] == "hglmm" and "fisher.mixture=hglmm" in (
        fisher.describe()
    )
    mean = from_mlflow(logged | {"caption_vectors.pooling": "mean"}, {})
    assert not any(key.startswith("fisher.") for key in mean.pooling)


def test_the_provenance_read_from_dvc_lock_leaves_fisher_params_out_of_a_mean_run():
    """dvc.lock records `fisher.normalize` and `fisher.store` for text_features whatever the
    pooling (the stage declares them); with mean pooling they play no part."""
    from tie.results.provenance import _pooling

    recorded = {
        "dataset": "demo",
        "text": "glove",
        "caption_vectors": {"pooling": "mean", "idf": False},
        "fisher.normalize": True,
        "fisher.store": "codes",
    }
    assert _pooling(recorded, {}) == {
        "caption_vectors.pooling": "mean",
        "caption_vectors.idf": False,
    }
    recorded["caption_vectors"]["pooling"] = "fisher"
    mixture = {"fisher.mixture": "hglmm"}
    assert _pooling(recorded, mixture)["fisher.store"] == "codes"
    assert _pooling(recorded, mixture)["fisher.mixture"] == "hglmm"


def test_an_hglmm_that_chose_the_gaussian_everywhere_is_reported():
    """On Gaussian word vectors HGLMM picks the Gaussian for (nearly) every dimension, and
    gmm+hglmm then holds the same Fisher vector twice: said; on heavy-tailed vectors (a
    Laplacian in every dimension) nothing is said."""
    from tie.text.fisher_vectors import FisherVectors
    from tie.text.fit import mixture_warnings

    rng = np.random.default_rng(0)
    gaussian = rng.normal(size=(3000, 50))
    fitted = FisherVectors(mixture="gmm+hglmm", n_components=2, max_iter=20).fit(gaussian)
    summary = fitted.summary()
    assert summary[1]["mixture"] == "hglmm" and summary[1]["gaussian_share"] >= 0.95
    (warning,) = mixture_warnings(summary)
    assert "gmm+hglmm holds nearly the same Fisher vector twice" in warning

    heavy = rng.laplace(size=(3000, 50))
    fitted = FisherVectors(mixture="gmm+hglmm", n_components=2, max_iter=20).fit(heavy)
    assert fitted.summary()[1]["gaussian_share"] < 0.95
    assert mixture_warnings(fitted.summary()) == []
