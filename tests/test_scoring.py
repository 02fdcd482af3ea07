"""Hubness-aware scoring (`eval.scoring`), each rule against a direct dense computation.

The references below are written from the papers' formulas, with exponentials and whole
matrices (no log-sum-exp, no blocks), and rank with a plain loop over queries: the code
under test computes log scores from per-candidate offsets, block by block.
"""

import json

import numpy as np
import pytest
from helpers import copy_project, run

from tie.config.schema import Hubness
from tie.evaluation.folds import score_folds
from tie.evaluation.scoring import (
    BANK_STEP,
    Direction,
    ScoringChoice,
    bank_statistics,
    choose_on_val,
    direction_ranks,
    directions,
    grid_points,
    hubness_ranks,
    ranks_function,
    top_items,
)
from tie.joint.retrieval import metrics_from_ranks, rounded, rsum
from tie.joint.retrieval import ranks as cosine_ranks

RULES = {
    "cosine": {},
    "inverted_softmax": {"beta": 20.0},
    "qb_norm": {"beta": 20.0, "activation_k": 1},
    "csls": {"neighbours_k": 10},
    "dual_bank": {"beta": 5.0, "gallery_beta": 3.0},
}
BIG = 1e9  # bytes: one block


def unit(x):
    x = np.asarray(x, dtype=float)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return np.divide(x, n, out=np.zeros_like(x), where=n > 0)


def reference_ranks(S, query_owner, gallery_owner):
    """rank = 1 + candidates of other owners scoring >= the query's best own one."""
    out = []
    for q in range(len(S)):
        own = gallery_owner == query_owner[q]
        out.append(1 + int(np.sum(S[q, ~own] >= S[q, own].max())))
    return np.array(out)


def brute_top(row, k, allowed):
    """A bank query's k best candidates: by score, then by lower index (a plain sort)."""
    return sorted((g for g in range(len(row)) if allowed[g]), key=lambda g: (-row[g], g))[:k]


def reference_scores(rule, point, Q, G, query_bank, gallery_bank):
    """The rule's scores, dense, as the papers write them; -inf for pairs with a zero row."""
    Q, G = unit(Q), unit(G)
    qb = unit(query_bank)[np.abs(query_bank).sum(1) > 0]
    gb = unit(gallery_bank)[np.abs(gallery_bank).sum(1) > 0]
    S, B = Q @ G.T, qb @ G.T
    nonzero_g = np.abs(G).sum(1) > 0
    if rule == "cosine":
        out = S.copy()
    elif rule == "inverted_softmax":
        out = np.exp(point["beta"] * S) / np.exp(point["beta"] * B).sum(0)
    elif rule == "qb_norm":
        active = {g for row in B for g in brute_top(row, point["activation_k"], nonzero_g)}
        inverted = np.exp(point["beta"] * S) / np.exp(point["beta"] * B).sum(0)
        out = S.copy()
        for q in range(len(S)):
            if brute_top(S[q], 1, nonzero_g)[0] in active:
                out[q] = inverted[q]
    elif rule == "csls":
        k = point["neighbours_k"]
        r_bank = np.sort(B, axis=0)[::-1][:k].mean(0)
        r_query = np.sort(S, axis=1)[:, ::-1][:, :k].mean(1)  # constant per query
        out = 2 * S - r_query[:, None] - r_bank[None, :]
    elif rule == "dual_bank":
        b1, b2 = point["beta"], point["gallery_beta"]
        out = (np.exp(b1 * S) / np.exp(b1 * B).sum(0)) * (
            np.exp(b2 * S) / np.exp(b2 * (gb @ G.T)).sum(0)
        )
    out[np.abs(Q).sum(1) == 0] = -np.inf
    out[:, ~nonzero_g] = -np.inf
    return out


def corpus(seed, n_images=12, per_image=3, dim=6, n_train=40, zeros=True, ties=True):
    """Test images and captions (a few zero rows, duplicated rows: ties) and train banks."""
    rng = np.random.default_rng(seed)
    images = rng.normal(size=(n_images, dim))
    index = np.repeat(np.arange(n_images), per_image)
    captions = images[index] + 0.8 * rng.normal(size=(len(index), dim))
    train_images = rng.normal(size=(n_train, dim))
    train_captions = train_images[np.repeat(np.arange(n_train), 2)] + rng.normal(
        size=(2 * n_train, dim)
    )
    if ties:
        images[3] = images[2]  # two identical candidates for every caption
        captions[7] = captions[6]  # and two identical captions
    if zeros:
        images[5] = 0  # an unreadable image
        captions[[1, 10]] = 0  # captions with no known word
        train_captions[[0, 3]] = 0  # bank rows with no information: left out
        train_images[4] = 0
    return images, captions, index, train_images, train_captions


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("rule", list(RULES))
def test_each_rule_ranks_as_the_dense_reference_both_ways(rule, seed):
    images, captions, index, train_images, train_captions = corpus(seed)
    point = RULES[rule]
    search, annotation = hubness_ranks(
        rule, point, images, captions, index, (train_images, train_captions), BIG
    )
    owners = np.arange(len(images))
    expected_search = reference_ranks(
        reference_scores(rule, point, captions, images, train_captions, train_images),
        index,
        owners,
    )
    expected_annotation = reference_ranks(
        reference_scores(rule, point, images, captions, train_images, train_captions),
        owners,
        index,
    )
    np.testing.assert_array_equal(search, expected_search)
    np.testing.assert_array_equal(annotation, expected_annotation)


@pytest.mark.parametrize("rule", [r for r in RULES if r != "cosine"])
def test_zero_rows_rank_last_under_every_rule(rule):
    images, captions, index, train_images, train_captions = corpus(3)
    search, annotation = hubness_ranks(
        rule, RULES[rule], images, captions, index, (train_images, train_captions), BIG
    )
    n_images, n_captions = len(images), len(captions)
    assert search[[1, 10]].tolist() == [n_images, n_images]  # a zero caption: last
    assert (search[index == 5] == n_images).all()  # the captions of the zero image: last
    assert annotation[5] == n_captions - 3 + 1  # the zero image: after every other caption
    # and a zero candidate never passes a true one: no rank counts the zero image
    nonzero = (index != 5) & captions.any(axis=1)
    assert (search[nonzero] < n_images).all()


def test_cosine_rule_ranks_as_the_protocol_does():
    images, captions, index, train_images, train_captions = corpus(4, zeros=False)
    got = hubness_ranks("cosine", {}, images, captions, index, (train_images, train_captions), BIG)
    expected = cosine_ranks(images, captions, index)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])


def test_qb_norm_activation_set_is_the_bank_queries_top_k_by_a_brute_force_loop():
    rng = np.random.default_rng(5)
    gallery = unit(rng.normal(size=(15, 4)))
    gallery[[4, 9]] = gallery[2]  # tied candidates: the lower index wins
    gallery[11] = 0  # a zero candidate is in no one's top-k
    bank = unit(rng.normal(size=(300, 4)))
    direction = Direction(bank[:30], gallery, np.zeros(30, int), np.arange(15), bank, gallery)
    for k in (1, 2, 3, 5):
        stats = bank_statistics(direction, [{"beta": 1.0, "activation_k": k}], 1e4)
        expected = np.zeros(15, dtype=bool)
        for b in range(len(bank)):
            best = sorted(
                (g for g in range(15) if g != 11),
                key=lambda g, b=b: (-float(bank[b] @ gallery[g]), g),
            )[:k]
            expected[best] = True
        np.testing.assert_array_equal(stats.active[k], expected, err_msg=f"k={k}")


def test_top_items_orders_by_score_then_lower_index():
    scores = np.array([[0.5, 0.9, 0.9, 0.1, 0.9], [0.0, 0.0, 0.0, 0.0, 0.0]])
    assert top_items(scores, 2).tolist() == [[1, 2], [0, 1]]
    assert top_items(scores, 4).tolist() == [[1, 2, 4, 0], [0, 1, 2, 3]]
    for k in range(1, 6):
        for row, got in zip(scores, top_items(scores, k), strict=True):
            assert got.tolist() == brute_top(row, k, np.ones(5, bool))


@pytest.mark.parametrize("rule", [r for r in RULES if r != "cosine"])
def test_blocks_of_any_size_give_the_dense_statistics_and_ranks(rule):
    # a bank of several BANK_STEPs, read in blocks of one step up to the whole bank
    images, captions, index, train_images, train_captions = corpus(
        6, n_images=20, n_train=3 * BANK_STEP + 17, zeros=True
    )
    search, _ = directions(images, captions, index, train_images, train_captions)
    hubness = {"beta": [5.0, 20.0], "gallery_beta": 3.0, "activation_k": [1, 3]}
    points = grid_points(rule, Hubness(**hubness, neighbours_k=[1, 10]))
    n_gallery = len(images)
    budgets = [1, BANK_STEP * n_gallery * 40, 2 * BANK_STEP * n_gallery * 40, BIG]
    dense = bank_statistics(search, points, BIG)
    dense_ranks = direction_ranks(search, rule, points, BIG, dense)
    B = search.query_bank @ search.gallery.T
    for beta, lse in dense.lse.items():  # LSE against the textbook formula
        np.testing.assert_allclose(lse, np.log(np.exp(beta * B).sum(0)), rtol=1e-12)
    for k, r in dense.neighbours.items():
        np.testing.assert_allclose(r, np.sort(B, axis=0)[::-1][:k].mean(0), rtol=1e-12)
    for budget in budgets:
        stats = bank_statistics(search, points, budget)
        for name in ("lse", "gallery_lse", "neighbours"):
            for key, value in getattr(dense, name).items():
                np.testing.assert_allclose(getattr(stats, name)[key], value, rtol=1e-12)
        for key, value in dense.active.items():
            np.testing.assert_array_equal(stats.active[key], value)
        for got, expected in zip(
            direction_ranks(search, rule, points, budget), dense_ranks, strict=True
        ):
            np.testing.assert_array_equal(got, expected)


def test_grid_points_cover_only_the_rules_params():
    hubness = Hubness(beta=[10, 20], gallery_beta=3, activation_k=[1, 2], neighbours_k=10)
    assert grid_points("cosine", hubness) == [{}]
    assert grid_points("csls", hubness) == [{"neighbours_k": 10}]
    assert grid_points("qb_norm", hubness) == [
        {"beta": 10, "activation_k": 1},
        {"beta": 10, "activation_k": 2},
        {"beta": 20, "activation_k": 1},
        {"beta": 20, "activation_k": 2},
    ]


@pytest.mark.e2e
def test_qb_norm_reruns_only_evaluate_records_its_choice_and_tie_report_shows_it(
    demo_project, tmp_path
):
    import mlflow

    project = copy_project(demo_project, tmp_path / "project")
    cosine = json.loads((project / "metrics/scoring_selection.json").read_text())
    assert cosine == {"scoring": "cosine", "grid_points": 0}

    _, out = run(["dvc", "exp", "run", "-n", "qb", "-S", "eval.scoring=qb_norm"], project)
    stages = ("data", "splits", "image_features", "vocab", "mixture", "text_features", "moments")
    for stage in (*stages, "cca"):
        assert f"Stage '{stage}' didn't change, skipping" in out
    assert "Running stage 'evaluate'" in out
    chosen = json.loads((project / "metrics/scoring_selection.json").read_text())
    # params.yaml's grid: beta [10, 20, 40] x activation_k [1], each scored on val
    assert chosen["scoring"] == "qb_norm" and chosen["grid_points"] == 3
    assert set(chosen["val_grid"]) == {f"beta={b} activation_k=1" for b in (10, 20, 40)}
    assert chosen["val_criterion"] == max(chosen["val_grid"].values())
    assert chosen["val_grid"][f"beta={chosen['beta']} activation_k=1"] == chosen["val_criterion"]
    assert 0 < chosen["cosine_val_criterion"] <= 600
    assert f"scoring chosen on val: qb_norm (beta={chosen['beta']}, activation_k=1)" in out

    _, report = run(["tie", "report"], project)
    described = f"scoring qb_norm (beta={float(chosen['beta'])}, activation_k=1)"
    assert "- qb: " in report and described in report.split("- qb: ")[1].splitlines()[0]
    assert "scoring cosine" in report  # the baseline commit's row

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    runs = client.search_runs([e.experiment_id for e in client.search_experiments()])
    qb = next(r for r in runs if r.data.params.get("eval.scoring") == "qb_norm")
    assert float(qb.data.params["scoring_selected.beta"]) == chosen["beta"]
    assert qb.data.params["scoring_selected.activation_k"] == "1"
    _, mlflow_report = run(["tie", "report", "--runs", "mlflow"], project)
    assert described in mlflow_report


def test_the_choice_on_val_is_the_grid_point_of_best_rsum_first_of_equals():
    images, captions, index, train_images, train_captions = corpus(7, n_images=30)
    bank = (train_images, train_captions)
    hubness = Hubness(beta=[5, 60, 5.0], gallery_beta=3, activation_k=[1, 2], neighbours_k=10)
    choice = choose_on_val("qb_norm", hubness, images, captions, index, bank, 1)
    assert len(choice.table) == 6  # beta x activation_k, in the order listed
    expected = {}
    for point in grid_points("qb_norm", hubness):
        search, annotation = hubness_ranks("qb_norm", point, images, captions, index, bank, BIG)
        expected.setdefault(rsum(search, annotation), point)  # the first of equals
    best = max(expected)
    assert choice.params == expected[best]
    assert [row["criterion"] for row in choice.table[:2]] == [
        row["criterion"] for row in choice.table[4:]
    ]
    selection = choice.selection()
    assert selection["val_criterion"] == best and selection["grid_points"] == 6
    assert selection["cosine_val_criterion"] == rsum(*cosine_ranks(images, captions, index))
    assert choose_on_val("cosine", hubness, images, captions, index, bank, 1).selection() == {
        "scoring": "cosine",
        "grid_points": 0,
    }


def test_folds_are_each_scored_by_the_rule_with_their_own_candidates():
    images, captions, index, train_images, train_captions = corpus(8, n_images=20, zeros=False)
    bank = (train_images, train_captions)
    choice = ScoringChoice("qb_norm", {"beta": 20.0, "activation_k": 1})
    folds = score_folds(images, captions, index, 2, (1, 5), 1, ranks_function(choice, bank, 1))
    per_fold = []
    for fold in range(2):
        in_fold = (index >= 10 * fold) & (index < 10 * fold + 10)
        fold_ranks = hubness_ranks(
            "qb_norm",
            choice.params,
            images[10 * fold : 10 * fold + 10],
            captions[in_fold],
            index[in_fold] - 10 * fold,
            bank,
            BIG,
        )
        per_fold.append(metrics_from_ranks(*fold_ranks, (1, 5)))
    for direction in ("image_search", "image_annotation"):
        for name, value in folds[direction].items():
            assert value == rounded(np.mean([m[direction][name] for m in per_fold]))
