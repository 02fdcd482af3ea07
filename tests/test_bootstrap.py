"""Bootstrap intervals and paired comparisons, checked by simulation (no mocks).

Simulated test sets come from a population whose R@K is known: each image has a latent
difficulty z; its five captions' log-ranks are MU + SIGMA * (RHO z + sqrt(1 - RHO^2) e)
with e independent per caption, so the five are correlated (as real captions of one
picture are) while each is marginally N(MU, SIGMA^2). A rank is the ceiling of the
exponential, so P(rank <= K) = Phi((ln K - MU) / SIGMA) exactly, for K below the
number of candidates. Image annotation ranks follow the same law, one per image.
"""

import numpy as np
import pytest
from scipy.stats import norm

from tie.errors import TieError
from tie.evaluation.bootstrap import add_uncertainty, intervals, paired, replicate_metrics, rsum
from tie.evaluation.query_ranks import QueryRanks, check_same_queries
from tie.joint.retrieval import metrics_from_ranks

MU, SIGMA, RHO, CAPTIONS = 1.5, 1.4, 0.8, 5
KS = (1, 5, 10)
TRUE_RECALL = {k: 100 * norm.cdf((np.log(k) - MU) / SIGMA) for k in KS}
SETS = 400


def simulate(rng, z, mu=MU):
    """(search ranks, annotation ranks) of one simulated test set, images of difficulty z."""
    n_images = len(z)
    shared = RHO * z[:, None]
    own = np.sqrt(1 - RHO**2) * rng.standard_normal((n_images, CAPTIONS))
    search = np.ceil(np.exp(mu + SIGMA * (shared + own))).ravel()
    own = np.sqrt(1 - RHO**2) * rng.standard_normal(n_images)
    annotation = np.ceil(np.exp(mu + SIGMA * (RHO * z + own)))
    return (
        np.clip(search, 1, n_images).astype(np.int64),
        np.clip(annotation, 1, CAPTIONS * n_images).astype(np.int64),
    )


def caption_images(n_images):
    return np.repeat(np.arange(n_images), CAPTIONS)


def test_the_point_values_are_those_of_metrics_from_ranks():
    rng = np.random.default_rng(0)
    for n_images in (7, 8):  # an odd and an even number of queries: np.median's two cases
        search, annotation = simulate(rng, rng.standard_normal(n_images))
        (points,) = replicate_metrics(
            [(search, annotation)], caption_images(n_images), KS, n_resamples=0, seed=0
        )
        expected = metrics_from_ranks(search, annotation, KS)
        for direction, values in expected.items():
            # metrics_from_ranks rounds to METRIC_DECIMALS
            for name, value in values.items():
                assert points[f"{direction}/{name}"][0] == pytest.approx(value, abs=5e-5)
        assert points["rsum"][0] == pytest.approx(rsum(search, annotation))


def test_same_seed_same_intervals_and_no_resamples_adds_only_rsum():
    rng = np.random.default_rng(1)
    search, annotation = simulate(rng, rng.standard_normal(50))
    index = caption_images(50)
    first = intervals(search, annotation, index, KS, 300, seed=3)
    assert intervals(search, annotation, index, KS, 300, seed=3) == first
    assert intervals(search, annotation, index, KS, 300, seed=4) != first
    metrics = metrics_from_ranks(search, annotation, KS)
    assert add_uncertainty(metrics, search, annotation, index, KS, 0, 0) == metrics | {
        "rsum": rsum(search, annotation)
    }
    with_intervals = add_uncertainty(metrics, search, annotation, index, KS, 300, 3)
    assert list(with_intervals["image_search"])[:3] == ["R_at_1", "R_at_1_low", "R_at_1_high"]
    for direction in ("image_search", "image_annotation"):
        values = with_intervals[direction]
        for name in metrics[direction]:
            assert values[f"{name}_low"] <= values[name] <= values[f"{name}_high"]
    assert with_intervals["rsum_low"] <= with_intervals["rsum"] <= with_intervals["rsum_high"]


def test_interval_bounds_are_values_the_metric_can_take():
    """A median rank is a whole or half rank, an R@K a multiple of 100 / queries: so are the
    bounds of their intervals (not a point between two replicates, e.g. 17.4875)."""
    rng = np.random.default_rng(2)
    for n_images in (40, 41):
        search, annotation = simulate(rng, rng.standard_normal(n_images))
        found = intervals(search, annotation, caption_images(n_images), KS, 999, seed=0)
        for direction, queries in (("image_search", 5 * n_images), ("image_annotation", n_images)):
            values = found[direction]
            for bound in (values["median_rank_low"], values["median_rank_high"]):
                assert (2 * bound) == pytest.approx(round(2 * bound), abs=1e-9), values
            for k in KS:
                for bound in (values[f"R_at_{k}_low"], values[f"R_at_{k}_high"]):
                    share = bound * queries / 100
                    assert share == pytest.approx(round(share), abs=1e-3), (k, values)


@pytest.mark.slow
def test_intervals_cover_the_true_recall_95_percent_of_the_time_and_the_unit_matters():
    """Images resampled with their captions: 95% +- 3% coverage of the population's R@K on
    400 simulated test sets. The same sets with captions resampled one by one (every
    caption its own unit) ignore that an image's captions are alike: too narrow."""
    rng = np.random.default_rng(2)
    n_images = 300
    index = caption_images(n_images)
    covered, covered_wrong_unit = {}, 0
    for s in range(SETS):
        search, annotation = simulate(rng, rng.standard_normal(n_images))
        found = intervals(search, annotation, index, KS, 1000, seed=s)
        for direction in ("image_search", "image_annotation"):
            for k in KS:
                low, high = found[direction][f"R_at_{k}_low"], found[direction][f"R_at_{k}_high"]
                covered[direction, k] = covered.get((direction, k), 0) + (
                    low <= TRUE_RECALL[k] <= high
                )
        true_rsum = 2 * sum(TRUE_RECALL.values())
        covered["rsum"] = covered.get("rsum", 0) + (
            found["rsum_low"] <= true_rsum <= found["rsum_high"]
        )
        # The wrong unit: each caption resampled on its own (its own "image"); fewer
        # resamples, as only image search's gross under-coverage is checked.
        wrong = intervals(search, search, np.arange(len(search)), KS, 200, seed=s)
        low, high = wrong["image_search"]["R_at_1_low"], wrong["image_search"]["R_at_1_high"]
        covered_wrong_unit += low <= TRUE_RECALL[1] <= high
    coverage = {key: count / SETS for key, count in covered.items()}
    print(f"coverage of 95% intervals over {SETS} sets: {coverage}")
    print(f"captions as the unit, image search R@1: {covered_wrong_unit / SETS}")
    assert all(0.92 <= c <= 0.98 for c in coverage.values()), coverage
    assert covered_wrong_unit / SETS < 0.85


@pytest.mark.slow
def test_paired_comparison_false_positives_and_power():
    """Exchangeable runs (same image difficulties, own caption noise): p < 0.05 in 5% +- 2.5%
    of 400 simulations. A planted +3-point R@1 gain (in the population) on 1,000 images:
    detected in most simulations."""
    rng = np.random.default_rng(3)
    n_images = 300
    index = caption_images(n_images)
    metrics = [f"{d}/R_at_{k}" for d in ("image_search", "image_annotation") for k in KS]
    metrics.append("rsum")
    false_positives = dict.fromkeys(metrics, 0)
    for s in range(SETS):
        z = rng.standard_normal(n_images)
        result = paired(simulate(rng, z), simulate(rng, z), index, KS, 1000, seed=s)
        for name in metrics:
            false_positives[name] += result[name].p_value < 0.05
    rates = {name: count / SETS for name, count in false_positives.items()}
    print(f"false-positive rate at p < 0.05 over {SETS} exchangeable pairs: {rates}")
    assert all(0.025 <= rate <= 0.075 for rate in rates.values()), rates

    n_images, simulations = 1000, 50
    gained_mu = -SIGMA * norm.ppf(norm.cdf(-MU / SIGMA) + 0.03)  # R@1 3 points higher
    detected = {"image_search/R_at_1": 0, "image_annotation/R_at_1": 0}
    for s in range(simulations):
        z = rng.standard_normal(n_images)
        better, base = simulate(rng, z, gained_mu), simulate(rng, z)
        result = paired(better, base, caption_images(n_images), KS, 1000, seed=s)
        for name in detected:
            detected[name] += result[name].significant and result[name].difference > 0
    power = {name: count / simulations for name, count in detected.items()}
    print(f"power against a +3-point R@1 gain on {n_images} images: {power}")
    assert power["image_search/R_at_1"] >= 0.8


def test_a_result_compared_with_itself_differs_by_nothing():
    rng = np.random.default_rng(4)
    ranks = simulate(rng, rng.standard_normal(40))
    for difference in paired(ranks, ranks, caption_images(40), KS, 200, seed=0).values():
        assert (difference.difference, difference.low, difference.high) == (0, 0, 0)
        assert difference.p_value == 1 and not difference.significant


def query_ranks(n_images, shift=0):
    rng = np.random.default_rng(5)
    search, annotation = simulate(rng, rng.standard_normal(n_images))
    images = [f"img{i + shift:03d}.jpg" for i in range(n_images)]
    captions = [f"{image}#{c}" for image in images for c in range(CAPTIONS)]
    return QueryRanks.of(images, captions, caption_images(n_images), search, annotation)


def test_ranks_file_round_trip_in_any_row_order(tmp_path):
    ranks = query_ranks(6)
    ranks.write(tmp_path / "ranks.csv")
    text = (tmp_path / "ranks.csv").read_text()
    assert text.splitlines()[:2] == [
        "direction,query,image,rank",
        f"image_search,img000.jpg#0,img000.jpg,{ranks.search[0]}",
    ]
    assert f"image_annotation,img005.jpg,img005.jpg,{ranks.annotation[5]}" in text
    header, *lines = text.splitlines()
    shuffled = "\n".join([header, *reversed(lines)]) + "\n"
    again = QueryRanks.from_csv(shuffled, "shuffled")
    assert again.to_csv() == text
    with pytest.raises(TieError, match="is not a per-query ranks file"):
        QueryRanks.from_csv("a,b\n", "x.csv")


def test_results_of_other_queries_are_refused_naming_what_differs():
    check_same_queries(query_ranks(6), query_ranks(6), "a", "b")
    with pytest.raises(TieError, match=r"test images differ \(6 vs 6, 2 not shared") as error:
        check_same_queries(query_ranks(6), query_ranks(6, shift=1), "a", "b")
    assert "\n" not in str(error.value) and "'img000.jpg' only in a" in str(error.value)
