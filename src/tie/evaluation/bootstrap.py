"""Bootstrap intervals and paired comparisons of retrieval metrics, from per-query ranks.

The resampling unit is the test image, with all of its captions. A test set is a sample
of images; an image's five captions describe the same picture, so their ranks rise and
fall together (an ambiguous image is hard for all five). Resampling captions one by one
would treat them as five independent queries and give intervals too narrow. Resampling
images keeps that dependence and is the same unit in both directions (an image is one
annotation query and five search queries). The candidate set stays fixed: the ranks
already computed are what is resampled, never the similarities.

A resample is a vector of counts (how often each image was drawn), so every metric of a
resample is a weighted statistic of the ranks: each direction's ranks are tallied once
per image (`_Tally`), and a block of resamples is one sparse-by-dense product that gives,
per resample, how many queries have each rank value; R@K, median and mean rank follow.
Memory grows with the block (`BLOCK` resamples) times the images and the distinct ranks,
not with the number of resamples.

A paired comparison draws the same images for both results; its p-value is two-sided:
twice the smaller share of resampled differences on either side of zero, so that p < 0.05
exactly when the 95% interval of the difference excludes zero (up to the +1 that keeps a
p-value above zero).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from tie.joint.retrieval import DIRECTIONS, RSUM_KS, rsum
from tie.joint.retrieval import rounded as _rounded

CONFIDENCE = 0.95
BLOCK = 100  # resamples drawn and scored at once


@dataclass(frozen=True)
class Difference:
    """One metric of two results on the same queries: a - b, its interval and p-value."""

    a: float
    b: float
    difference: float
    low: float
    high: float
    p_value: float

    @property
    def significant(self) -> bool:
        return self.p_value < 1 - CONFIDENCE


def add_uncertainty(
    metrics: dict, search_ranks, annotation_ranks, caption_image_index, ks, n_resamples, seed
) -> dict:
    """`metrics` (of `metrics_from_ranks`) with `rsum`, and with every interval beside its
    point value when `n_resamples` > 0 (`R_at_1_low`, `R_at_1_high`, ..., `rsum_low`)."""
    found = {}
    if n_resamples:
        found = intervals(
            search_ranks, annotation_ranks, caption_image_index, ks, n_resamples, seed
        )
    result = {}
    for direction, values in metrics.items():
        bounds = found.get(direction, {})
        result[direction] = {}
        for name, value in values.items():
            result[direction][name] = value
            for bound in (f"{name}_low", f"{name}_high"):
                if bound in bounds:
                    result[direction][bound] = bounds[bound]
    result["rsum"] = rsum(search_ranks, annotation_ranks)
    return result | {k: v for k, v in found.items() if k not in DIRECTIONS}


def intervals(
    search_ranks,
    annotation_ranks,
    caption_image_index,
    ks,
    n_resamples,
    seed,
    confidence=CONFIDENCE,
) -> dict:
    """Percentile bootstrap intervals of every metric, keyed as the metrics file keys them.

    Returns
    -------
    dict
        {"image_search": {"R_at_<k>_low", "R_at_<k>_high", ..., "median_rank_low", ...,
        "mean_rank_high"}, "image_annotation": {...}, "rsum_low", "rsum_high"}, rounded to
        `METRIC_DECIMALS`.
    """
    (replicates,) = replicate_metrics(
        [(search_ranks, annotation_ranks)], caption_image_index, ks, n_resamples, seed
    )
    result = {direction: {} for direction in DIRECTIONS}
    for name, values in replicates.items():
        low, high = _percentiles(values, confidence)
        direction, _, metric = name.rpartition("/")
        target = result[direction] if direction else result
        target[f"{metric}_low"], target[f"{metric}_high"] = low, high
    return result


def paired(
    ranks_a, ranks_b, caption_image_index, ks, n_resamples, seed, confidence=CONFIDENCE
) -> dict[str, Difference]:
    """The paired bootstrap of a - b for every metric (`image_search/R_at_1`, ..., `rsum`).

    `ranks_a` and `ranks_b` are (search ranks, annotation ranks) of the same queries in the
    same order; each resample draws the same images for both.
    """
    points = replicate_metrics([ranks_a, ranks_b], caption_image_index, ks, 0, seed)
    draws = replicate_metrics([ranks_a, ranks_b], caption_image_index, ks, n_resamples, seed)
    return {
        name: difference(
            points[0][name][0], points[1][name][0], draws[0][name], draws[1][name], confidence
        )
        for name in draws[0]
    }


def difference(a, b, draws_a, draws_b, confidence=CONFIDENCE) -> Difference:
    """a - b, from the point values and their replicates on the same resamples."""
    differences = np.asarray(draws_a) - np.asarray(draws_b)
    low, high = _percentiles(differences, confidence)
    at_most, at_least = np.sum(differences <= 0), np.sum(differences >= 0)
    p_value = min(1.0, 2 * (min(at_most, at_least) + 1) / (len(differences) + 1))
    a, b, delta = (_rounded(v) for v in (a, b, a - b))
    return Difference(a, b, delta, low, high, float(p_value))


def replicate_metrics(
    results, caption_image_index, ks, n_resamples, seed
) -> list[dict[str, np.ndarray]]:
    """Every metric of every resample, for each of `results` (the same images drawn for all).

    `results` are (search ranks, annotation ranks) pairs of the same queries in the same
    order. Returns one dict per result: metric name (`image_search/R_at_1`, ..., `rsum`)
    to its values, one per resample. With `n_resamples` 0, the one "resample" is the test
    set itself: the point values.
    """
    index = np.asarray(caption_image_index)
    n_images = len(results[0][1])
    tallies = [
        (_Tally(search, index, n_images), _Tally(annotation, np.arange(n_images), n_images))
        for search, annotation in results
    ]
    rng = np.random.default_rng(seed)
    blocks = [[] for _ in results]
    for start in range(0, max(n_resamples, 1), BLOCK):
        if n_resamples:
            counts = _draw_counts(rng, n_images, min(BLOCK, n_resamples - start))
        else:
            counts = np.ones((n_images, 1))
        for block, (search, annotation) in zip(blocks, tallies, strict=True):
            block.append(_block_metrics(search, annotation, counts, ks))
    return [
        {name: np.concatenate([part[name] for part in block]) for name in block[0]}
        for block in blocks
    ]


def _draw_counts(rng, n_images, size):
    """(n_images, size): how often each image is drawn in each of `size` resamples."""
    drawn = rng.integers(n_images, size=(size, n_images))
    drawn += n_images * np.arange(size)[:, None]
    counts = np.bincount(drawn.ravel(), minlength=size * n_images).reshape(size, n_images)
    return np.ascontiguousarray(counts.T, dtype=np.float64)


class _Tally:
    """The ranks of one direction, counted per image: how many of its queries have rank r."""

    def __init__(self, ranks, query_image, n_images):
        ranks = np.asarray(ranks)
        self.values, value_index = np.unique(ranks, return_inverse=True)
        ones = np.ones(len(ranks))
        # (distinct rank values, images): a sparse table, one entry per query at most.
        self.table = scipy.sparse.csr_array(
            (ones, (value_index, query_image)), shape=(len(self.values), n_images)
        )
        self.image_rank_sums = np.bincount(query_image, weights=ranks, minlength=n_images)

    def histograms(self, counts):
        """(resamples, distinct rank values): queries of each rank in each resample."""
        return np.asarray(self.table @ counts).T

    def at_most(self, cumulative, k):
        """Per resample, the queries ranked k or better, from the cumulative histograms."""
        position = np.searchsorted(self.values, k, side="right") - 1
        return cumulative[:, position] if position >= 0 else np.zeros(len(cumulative))

    def rank_sums(self, counts):
        """Per resample, the sum of its queries' ranks."""
        return self.image_rank_sums @ counts


def _block_metrics(search, annotation, counts, ks):
    metrics, rsum_parts = {}, []
    for direction, tally in zip(DIRECTIONS, (search, annotation), strict=True):
        cumulative = np.cumsum(tally.histograms(counts), axis=1)
        total = cumulative[:, -1]
        recall = {k: 100.0 * tally.at_most(cumulative, k) / total for k in {*ks, *RSUM_KS}}
        metrics |= {f"{direction}/R_at_{k}": recall[k] for k in ks}
        # The median of the resampled multiset, as np.median: the mean of its middle two.
        middle = [
            tally.values[np.sum(cumulative <= position[:, None], axis=1)]
            for position in (np.floor((total - 1) / 2), np.floor(total / 2))
        ]
        metrics[f"{direction}/median_rank"] = (middle[0] + middle[1]) / 2
        metrics[f"{direction}/mean_rank"] = tally.rank_sums(counts) / total
        rsum_parts += [recall[k] for k in RSUM_KS]
    metrics["rsum"] = sum(rsum_parts)
    return metrics


def _percentiles(values, confidence):
    """The interval's bounds: values the statistic took in a resample, never between two
    (the median rank's bounds are whole or half ranks, as the median itself; an R@K's are
    multiples of 100 / the number of queries), taken outwards, so the interval holds at
    least `confidence` of the replicates."""
    tail = 100 * (1 - confidence) / 2
    low = np.percentile(values, tail, method="lower")
    high = np.percentile(values, 100 - tail, method="higher")
    return _rounded(low), _rounded(high)
