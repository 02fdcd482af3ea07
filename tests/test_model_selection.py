import csv

import numpy as np
import pytest

from tie.evaluation.retrieval import score
from tie.joint.cca import CCA, covariances
from tie.joint.model_selection import TABLE_COLUMNS, grid_search, param_grid, write_table

N_LATENT = 3  # the right n_components of `planted_split`


def planted_split(rng, n_images, mixing_x, mixing_y):
    """Images and 5 captions each that share exactly N_LATENT dimensions of signal.

    Every other dimension of either view is independent noise, so components beyond
    N_LATENT only add noise to the cosine similarity, and fewer miss part of the signal.
    """
    latent = rng.normal(size=(n_images, N_LATENT))
    x_sources = np.hstack([latent, rng.normal(size=(n_images, 7))])
    X = x_sources @ mixing_x
    image_index = np.repeat(np.arange(n_images), 5)
    caption_latent = latent[image_index] + 0.3 * rng.normal(size=(len(image_index), N_LATENT))
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
    (X, Y, index), (X_val, Y_val, val_index) = planted_problem(seed=2)
    # Scaling by correlations ** 0 or ** 0 again: identical scores, the first power wins;
    # for n_components, the smaller of two equal scores would win likewise.
    result = grid_search(covariances(X, Y, index), X_val, Y_val, val_index, [3], [1e-3], [0, 0.0])
    assert result.table[0]["criterion"] == result.table[1]["criterion"]
    assert result.best is result.table[0]


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
    grid = param_grid({"n_components": [8, 16], "reg": 1e-3, "scale_power": [1, 4]}, 20, 30)
    assert grid == {"n_components": [8, 16], "reg": [1e-3], "scale_power": [1, 4]}


@pytest.mark.parametrize(
    ("cca_params", "message"),
    [
        ({"n_components": [], "reg": 0.1, "scale_power": 1}, "cca.n_components is an empty list"),
        ({"n_components": [8, 40], "reg": 0.1, "scale_power": 1}, "n_components=40 exceeds 20"),
        ({"n_components": 8, "reg": [0.1, -1], "scale_power": 1}, r"cca\.reg=-1 must be a number"),
        ({"n_components": 8, "reg": 0.1, "scale_power": ["x"]}, "cca.scale_power=.x. must be"),
        ({"n_components": 8, "reg": 0.1}, "cca.scale_power is missing"),
        ({"n_components": 8, "reg": 0.1, "scale_power": 1, "k": 3}, r"unknown cca params \['k'\]"),
    ],
)
def test_param_grid_errors(cca_params, message):
    with pytest.raises(ValueError, match=message):
        param_grid(cca_params, 20, 30)
