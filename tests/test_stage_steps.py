"""The stages' work as library calls, without DVC: each against a direct computation."""

import numpy as np
import pytest
from helpers import stage_params
from PIL import Image

from tie.config.schema import Cca
from tie.corpus.corpus import Corpus
from tie.errors import TieError
from tie.evaluation.embeddings import SplitEmbeddings
from tie.evaluation.evaluate import score_split
from tie.features.store import load_features
from tie.image.colorgrid import ColorGrid
from tie.image.features import extract_images
from tie.joint.cca import CCA
from tie.joint.fit import fit_joint_space
from tie.retrieval import score as published_score
from tie.text.fisher_vectors import FisherVectors
from tie.text.fit import fit_fisher_encoder
from tie.text.word_vectors import WordVectors

ZERO_SHOT = Cca(method="none", n_components=1, reg=0, scale_power=1)  # the grid is not read
SPLIT_OF = ["train"] * 40 + ["val"] * 10 + ["test"] * 10


def paired(seed=0, n_images=60, dx=8, dy=6):
    """A corpus of two captions per image, and features with a shared signal."""
    rng = np.random.default_rng(seed)
    images = [f"im{i:02d}" for i in range(n_images)]
    corpus = Corpus("demo", images, SPLIT_OF[:n_images], [["a", "b"] for _ in images])
    latent = rng.normal(size=(n_images, 3))
    X = latent @ rng.normal(size=(3, dx)) + 0.3 * rng.normal(size=(n_images, dx))
    caption_latent = latent[corpus.caption_image]
    Y = caption_latent @ rng.normal(size=(3, dy)) + 0.3 * rng.normal(size=(len(caption_latent), dy))
    return corpus, X, Y


def test_fit_joint_space_keeps_the_grid_point_best_on_val_fitted_on_train_only():
    corpus, X, Y = paired()
    grid = {"n_components": [2, 4], "reg": [1e-3, 1.0], "scale_power": 1.0}
    fitted = fit_joint_space(Cca(method="cca", **grid), X, np.arange(len(X)), Y, corpus)
    assert len(fitted.table) == fitted.selection["grid_points"] == 4
    train, val = corpus.split_view("train"), corpus.split_view("val")
    best = None
    for k in grid["n_components"]:
        for reg in grid["reg"]:
            model = CCA(n_components=k, reg=reg, scale_power=1.0)
            model.fit(X[train.image_rows], Y[train.caption_rows], train.caption_image_index)
            images, captions = model.transform(X[val.image_rows], Y[val.caption_rows])
            metrics = published_score(images, captions, val.caption_image_index)
            criterion = sum(metrics[d][f"R_at_{k}"] for d in metrics for k in (1, 5, 10))
            if best is None or criterion > best[0]:
                best = (criterion, k, reg, model)
    criterion, k, reg, model = best
    assert fitted.selection["val_criterion"] == pytest.approx(criterion, abs=1e-3)
    assert (fitted.selection["n_components"], fitted.selection["reg"]) == (k, reg)
    np.testing.assert_allclose(fitted.model.correlations_, model.correlations_, atol=1e-8)


def test_constant_features_are_a_data_error_naming_the_file_not_a_params_one(tmp_path):
    """The cca step blames params.yaml only for a param; constant image features are the
    features' fault, and the message names their file."""
    from tie.errors import DataError
    from tie.features.store import FeatureRows, save_features

    corpus, X, Y = paired()
    save_features(tmp_path / "image.npy", np.ones_like(X), corpus.images)
    save_features(tmp_path / "text.npy", Y, [f"c{i}" for i in range(len(Y))])
    X_rows, Y_rows = FeatureRows(tmp_path / "image.npy"), FeatureRows(tmp_path / "text.npy")
    grid = Cca(method="cca", n_components=2, reg=1e-3, scale_power=1.0)
    with pytest.raises(DataError) as error:
        fit_joint_space(grid, X_rows, np.arange(len(X)), Y_rows, corpus)
    message = str(error.value)
    assert "every feature of X is constant" in message
    assert f"X: {tmp_path / 'image.npy'}" in message and "params.yaml" not in message
    with pytest.raises(
        TieError, match=r"^cca.n_components=99 exceeds .* \(params.yaml, section `cca`\)$"
    ):
        fit_joint_space(
            grid.model_copy(update={"n_components": 99}), X, np.arange(len(X)), Y, corpus
        )


def test_zero_shot_needs_one_space_and_is_scored_as_given():
    corpus, X, Y = paired(dy=8)
    fitted = fit_joint_space(ZERO_SHOT, X, np.arange(len(X)), Y, corpus)
    assert fitted.table == [] and fitted.selection["grid_points"] == 0
    val = corpus.split_view("val")
    norm = np.linalg.norm
    images = X[val.image_rows] / norm(X[val.image_rows], axis=1, keepdims=True)
    captions = Y[val.caption_rows] / norm(Y[val.caption_rows], axis=1, keepdims=True)
    metrics = published_score(images, captions, val.caption_image_index)
    expected = sum(metrics[d][f"R_at_{k}"] for d in metrics for k in (1, 5, 10))
    assert fitted.selection["val_criterion"] == pytest.approx(expected, abs=1e-3)
    with pytest.raises(TieError, match="8 and 6 dimensions"):
        fit_joint_space(ZERO_SHOT, X, np.arange(len(X)), Y[:, :6], corpus)


def test_score_is_the_protocol_with_counts_and_intervals():
    corpus, X, Y = paired(dy=8)  # as if embedded in one space
    view = corpus.split_view("test")
    split = SplitEmbeddings(view, X[view.image_rows], Y[view.caption_rows])
    params = stage_params(
        eval={
            "split": "test",
            "ks": [1, 5],
            "memory_budget_mb": 1,
            "bootstrap": {"n": 50, "seed": 0},
        }
    )
    metrics, query_ranks = score_split(split, corpus, params.eval)
    direct = published_score(split.images, split.captions, view.caption_image_index, ks=(1, 5))
    for direction, values in direct.items():
        assert {k: metrics[direction][k] for k in values} == values
    assert (
        metrics["image_search"] | {"n_queries": 20, "n_candidates": 10} == metrics["image_search"]
    )
    search = metrics["image_search"]
    assert search["R_at_5_low"] <= search["R_at_5"] <= search["R_at_5_high"]
    assert list(query_ranks.image_ids) == [corpus.images[r] for r in view.image_rows]


def test_extract_images_writes_what_the_encoder_gives(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for i in range(5):
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    paths.append(tmp_path / "broken.png")
    names = [p.name for p in paths]
    out = tmp_path / "features.npy"
    report = extract_images(
        stage_params(image="colorgrid", image_decode={"max_pixels": 10**6}), paths, out, names
    )
    rows = load_features(out, names)[:]
    expected = np.zeros_like(rows)
    for position, row in ColorGrid().feature_batches(paths):
        expected[position] = row
    np.testing.assert_array_equal(rows, expected)
    assert report["dim"] == rows.shape[1] and list(report["unreadable"]) == ["broken.png"]
    assert not rows[5].any()


def test_the_mixture_is_fitted_on_the_train_captions_words_only(tmp_path):
    words = ["red", "blue", "circle", "square", "green", "big"]
    vectors = np.random.default_rng(1).normal(size=(len(words), 4)).astype(np.float32)
    WordVectors(words, vectors).save(tmp_path / "vocab.npz")
    splits = ["train", "train", "val", "test"]
    captions = [["red circle"], ["blue circle", "red square"], ["green big"], ["big"]]
    corpus = Corpus("demo", ["a", "b", "c", "d"], splits, captions)
    fisher = {"mixture": "gmm", "n_components": 2, "reduce": "none", "reduced_dim": 4}
    fisher |= {"normalize": True, "fit_on": "train_words", "sample_size": 10}
    fisher |= {"max_iter": 20, "seed": 0}
    params = stage_params(text="glove", tokenizer={"stop_words": "none"}, fisher=fisher)
    encoder, n_vectors = fit_fisher_encoder(params, corpus, tmp_path / "vocab.npz")
    train_words = [words.index(w) for w in ("red", "blue", "circle", "square")]
    settings = {k: v for k, v in fisher.items() if k not in ("fit_on", "sample_size")}
    direct = FisherVectors(**settings).fit(vectors[sorted(train_words)])
    assert n_vectors == 4
    np.testing.assert_array_equal(encoder.mixtures_[0].means_, direct.mixtures_[0].means_)
    with pytest.raises(TieError, match=r"\(params.yaml, section `fisher`\)"):
        fit_fisher_encoder(
            stage_params(
                text="glove", tokenizer={"stop_words": "none"}, fisher=fisher | {"n_components": 9}
            ),
            corpus,
            tmp_path / "vocab.npz",
        )
