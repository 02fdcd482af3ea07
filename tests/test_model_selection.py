import csv

import numpy as np
import pytest

from tie.config.params import typed_params
from tie.config.schema import Cca
from tie.errors import TieError
from tie.joint.cca import CCA, covariances
from tie.joint.model_selection import (
    TABLE_COLUMNS,
    capped_components,
    grid_search,
    param_grid,
    write_table,
)
from tie.joint.retrieval import score

N_LATENT = 3  # the right n_components of `planted_split`


def planted_split(rng, n_images, mixing_x, mixing_y, signal=1.0, caption_noise=0.3):
    """Images and 5 captions each that share exactly N_LATENT dimensions of signal.

    Every other dimension of either view is independent noise, so components beyond
    N_LATENT only add noise to the cosine similarity, and fewer miss part of the signal.
    `signal` scales the shared dimensions, `caption_noise` is each caption's own share.
    """
    latent = signal * rng.normal(size=(n_images, N_LATENT))
    x_sources = np.hstack([latent, rng.normal(size=(n_images, 7))])
    X = x_sources @ mixing_x
    image_index = np.repeat(np.arange(n_images), 5)
    own = caption_noise * rng.normal(size=(len(image_index), N_LATENT))
    caption_latent = latent[image_index] + own
    y_sources = np.hstack([caption_latent, rng.normal(size=(len(image_index), 5))])
    return X, y_sources @ mixing_y, image_index


def planted_problem(seed=0):
    rng = np.random.default_rng(seed)
    mixing_x, mixing_y = rng.normal(size=(10, 10)), rng.normal(size=(8, 8))
    train = planted_split(rng, 2000, mixing_x, mixing_y)
    val = planted_split(rng, 150, mixing_x, mixing_y)
    return train, val


def test_grid_search_picks_the_planted_number_of_components():
    (X, Y, index), (X_val, Y_val, val_index) = planted_problem()

    result = grid_search(
        covariances(X, Y, index), X_val, Y_val, val_index, [1, N_LATENT, 8], [1e-3], [0.0]
    )

    assert [row["n_components"] for row in result.table] == [1, N_LATENT, 8]
    assert result.best["n_components"] == N_LATENT
    assert result.model.n_components == N_LATENT
    criteria = {row["n_components"]: row["criterion"] for row in result.table}
    assert criteria[N_LATENT] > criteria[1] and criteria[N_LATENT] > criteria[8]


def test_grid_points_score_like_a_direct_fit_on_train():
    """One fit per reg, truncated and rescaled, gives each point's own model and score."""
    (X, Y, index), (X_val, Y_val, val_index) = planted_problem(seed=1)
    grid = {"n_components": [2, 5], "reg": [1e-4, 0.3], "scale_power": [0.0, 4.0]}

    result = grid_search(covariances(X, Y, index), X_val, Y_val, val_index, **grid)

    assert len(result.table) == 8
    for row in result.table:
        params = {name: row[name] for name in grid}
        direct = CCA(**params).fit(X, Y, image_index=index)
        metrics = score(*direct.transform(X_val, Y_val), val_index)
        expected = sum(metrics[d][f"R_at_{k}"] for d in metrics for k in (1, 5, 10))
        assert row["criterion"] == pytest.approx(expected, abs=1e-3)
    best = {name: result.best[name] for name in grid}
    direct = CCA(**best).fit(X, Y, image_index=index)
    assert result.best["criterion"] == max(row["criterion"] for row in result.table)
    np.testing.assert_allclose(result.model.transform(X_val), direct.transform(X_val), atol=1e-9)


def test_ties_go_to_the_simpler_model():
    """Equal criteria go to fewer components, then more ridge, then the smaller scale_power
    (the rule of tie.joint.model_selection), whatever order the values are listed in."""
    rng = np.random.default_rng(0)
    mixing_x, mixing_y = rng.normal(size=(10, 10)), rng.normal(size=(8, 8))
    train = planted_split(rng, 2000, mixing_x, mixing_y)
    # Two val images far apart: every grid point retrieves both perfectly, all tie at 600.
    val = planted_split(rng, 2, mixing_x, mixing_y, signal=10.0, caption_noise=0.1)
    grid = {"n_components": [6, 3, 4], "reg": [1e-4, 1e-2], "scale_power": [1.0, 0.0]}
    result = grid_search(covariances(*train), *val, **grid)
    assert len(result.table) == 12 and {row["criterion"] for row in result.table} == {600.0}
    best = result.best
    assert (best["n_components"], best["reg"], best["scale_power"]) == (3, 1e-2, 0.0)
    assert result.model.n_components == 3

    # One component: scaling it by its correlation ** 2 or ** 0 leaves every rank as it
    # is, so two different points tie at a criterion below 600; the power listed second wins.
    (X, Y, index), (X_val, Y_val, val_index) = planted_problem(seed=2)
    result = grid_search(covariances(X, Y, index), X_val, Y_val, val_index, [1], [1e-3], [2, 0])
    assert result.table[0]["criterion"] == result.table[1]["criterion"] < 600
    assert result.best is result.table[1]


def test_write_table(tmp_path):
    (X, Y, index), (X_val, Y_val, val_index) = planted_problem(seed=3)
    result = grid_search(covariances(X, Y, index), X_val, Y_val, val_index, [2, 3], [1e-3], [1])

    write_table(tmp_path / "grid.csv", result.table)

    with (tmp_path / "grid.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == TABLE_COLUMNS
    assert [int(r["n_components"]) for r in rows] == [2, 3]
    assert float(rows[1]["criterion"]) == result.table[1]["criterion"]


def test_param_grid_takes_values_or_lists():
    grid = param_grid(Cca(n_components=[8, 16], reg=1e-3, scale_power=[1, 4]), 20, 30)
    assert grid == {"n_components": [8, 16], "reg": [1e-3], "scale_power": [1, 4]}


def test_a_grid_of_components_is_capped_at_the_features_dimension():
    """One default grid serves 50-d mean vectors and 3,000-d Fisher vectors: the values of a
    list above min(dx, dy) become min(dx, dy), once, and the note says so."""
    grid = param_grid(Cca(n_components=[8, 16, 40, 64], reg=0.1, scale_power=1), 20, 30)
    assert grid["n_components"] == [8, 16, 20]
    values, note = capped_components([8, 16, 40, 64], 20)
    assert values == [8, 16, 20]
    assert note == (
        "cca.n_components [40, 64] exceed the features' dimension 20: tried 20 instead"
        " (at most min(image dim, text dim) components)"
    )
    assert capped_components([8, 16], 20) == ([8, 16], None)


@pytest.mark.parametrize("n_components", [40, [40]])
def test_param_grid_refuses_components_the_features_do_not_have(n_components):
    """The one rule the schema cannot hold: the features' dimension, known when they are read."""
    with pytest.raises(ValueError, match="n_components=40 exceeds 20"):
        param_grid(Cca(n_components=n_components, reg=0.1, scale_power=1), 20, 30)


@pytest.mark.parametrize(
    ("cca_params", "message"),
    [
        ({"n_components": [], "reg": 0.1, "scale_power": 1}, r"cca.n_components = \[\]: must be"),
        ({"n_components": 8, "reg": [0.1, -1], "scale_power": 1}, r"cca.reg = \[0.1, -1\]: must"),
        ({"n_components": 8, "reg": 0.1, "scale_power": ["x"]}, r"cca.scale_power = \['x'\]: must"),
        ({"n_components": 8, "reg": 0.1}, "cca.scale_power is missing"),
        ({"n_components": 8, "reg": 0.1, "scale_power": 1, "k": 3}, r"unknown param cca.k"),
    ],
)
def test_the_grid_rules_are_the_schemas(cca_params, message):
    """A grid the schema refuses never reaches `param_grid`: one message, from the schema."""
    with pytest.raises(TieError, match=message):
        typed_params(cca=cca_params)
