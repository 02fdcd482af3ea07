import math

import numpy as np
import pytest

from tie.joint.retrieval import (
    METRIC_DECIMALS,
    metrics_from_ranks,
    protocol_counts,
    ranks,
    recall_at_k,
    score,
)


def brute_force_cosine(a, b):
    norm_a = math.sqrt(sum(x * x for x in a))
    norm_b = math.sqrt(sum(x * x for x in b))
    if norm_a == 0 or norm_b == 0:
        return 0.0
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm_a * norm_b)


def brute_force_ranks(images, captions, caption_image_index):
    """Ranks straight from the definitions, one pair at a time."""
    images, captions = images.tolist(), captions.tolist()
    caption_image_index = caption_image_index.tolist()
    search_ranks = []
    for caption, true_image in zip(captions, caption_image_index, strict=True):
        true_score = brute_force_cosine(images[true_image], caption)
        others_at_least = sum(
            1
            for i, image in enumerate(images)
            if i != true_image and brute_force_cosine(image, caption) >= true_score
        )
        search_ranks.append(1 + others_at_least)
    annotation_ranks = []
    for i, image in enumerate(images):
        own = [j for j, owner in enumerate(caption_image_index) if owner == i]
        best_own = max(brute_force_cosine(image, captions[j]) for j in own)
        others_at_least = sum(
            1
            for j, caption in enumerate(captions)
            if j not in own and brute_force_cosine(image, caption) >= best_own
        )
        annotation_ranks.append(1 + others_at_least)
    return np.array(search_ranks), np.array(annotation_ranks)


def brute_force_score(images, captions, caption_image_index, ks):
    out = {}
    for task, task_ranks in zip(
        ("image_search", "image_annotation"),
        brute_force_ranks(images, captions, caption_image_index),
        strict=True,
    ):
        out[task] = {
            f"R_at_{k}": 100 * sum(r <= k for r in task_ranks) / len(task_ranks) for k in ks
        }
        out[task]["median_rank"] = float(np.median(task_ranks))
        out[task]["mean_rank"] = sum(task_ranks) / len(task_ranks)
    return out


def assert_metrics_close(actual, expected):
    assert list(actual) == list(expected)
    for task in expected:
        # Metrics are rounded to METRIC_DECIMALS decimals, the brute force is not.
        assert actual[task] == pytest.approx(expected[task], rel=0, abs=0.5 * 10**-METRIC_DECIMALS)


def tied_vectors(rng, n, dim=8):
    """Vectors whose cosines are exact in floating point, so that ties are exact ties.

    Entries are -1, 0 or 1 with 1 or 4 non-zeros (norm 1 or 2), times 1, 2 or 4: unit
    vectors then have entries 0, +-1/2 or +-1, and their dot products are multiples of 1/4.
    """
    vectors = np.zeros((n, dim))
    for row in vectors:
        positions = rng.choice(dim, size=rng.choice([1, 4]), replace=False)
        row[positions] = rng.choice([-1, 1], size=len(positions))
        row *= rng.choice([1, 2, 4])
    return vectors


def tied_dataset(seed, n_images=12, n_captions=30):
    """Images and captions with many tied scores, duplicate images and zero vectors."""
    rng = np.random.default_rng(seed)
    images = tied_vectors(rng, n_images)
    images[1] = images[0]  # a duplicate image
    images[2] = 2 * images[3]  # the same direction
    images[4] = 0  # a zero image
    captions = tied_vectors(rng, n_captions)
    captions[5] = 0  # a zero caption
    caption_image_index = np.concatenate(
        [np.arange(n_images), rng.integers(0, n_images, size=n_captions - n_images)]
    )
    rng.shuffle(caption_image_index)
    return images, captions, caption_image_index


@pytest.mark.parametrize("seed", range(5))
def test_ranks_match_brute_force_with_ties(seed):
    images, captions, caption_image_index = tied_dataset(seed)
    expected_search, expected_annotation = brute_force_ranks(images, captions, caption_image_index)

    search_ranks, annotation_ranks = ranks(images, captions, caption_image_index)

    np.testing.assert_array_equal(search_ranks, expected_search)
    np.testing.assert_array_equal(annotation_ranks, expected_annotation)


def test_ranks_match_brute_force_without_ties():
    rng = np.random.default_rng(10)
    images, captions = rng.normal(size=(20, 6)), rng.normal(size=(70, 6))
    caption_image_index = np.concatenate([np.arange(20), rng.integers(0, 20, size=50)])

    search_ranks, annotation_ranks = ranks(images, captions, caption_image_index)

    expected_search, expected_annotation = brute_force_ranks(images, captions, caption_image_index)
    np.testing.assert_array_equal(search_ranks, expected_search)
    np.testing.assert_array_equal(annotation_ranks, expected_annotation)


@pytest.mark.parametrize("seed", range(3))
def test_score_matches_brute_force(seed):
    images, captions, caption_image_index = tied_dataset(seed)
    ks = (1, 3, 5, 10)

    metrics = score(images, captions, caption_image_index, ks=ks)

    assert_metrics_close(metrics, brute_force_score(images, captions, caption_image_index, ks))
    assert list(metrics["image_search"]) == [
        "R_at_1",
        "R_at_3",
        "R_at_5",
        "R_at_10",
        "median_rank",
        "mean_rank",
    ]
    for task in metrics.values():
        assert all(type(value) is float for value in task.values())


# A block of similarities costs 11 bytes per score (float64 + three comparison masks) and
# holds a chunk of captions x all 12 images. The budgets below give chunks of 1, 2, 7 and
# 12 of the 30 captions, and all of them at once.
@pytest.mark.parametrize("budget_bytes", [1, 264, 924, 1584, 256 * 2**20])
def test_chunked_equals_unchunked(budget_bytes):
    images, captions, caption_image_index = tied_dataset(seed=20)
    expected = brute_force_ranks(images, captions, caption_image_index)

    chunked = ranks(images, captions, caption_image_index, memory_budget_mb=budget_bytes / 2**20)

    for actual, wanted in zip(chunked, expected, strict=True):
        np.testing.assert_array_equal(actual, wanted)


def test_tiny_budget_gives_the_same_score():
    images, captions, caption_image_index = tied_dataset(seed=21)
    assert score(images, captions, caption_image_index, memory_budget_mb=0.0001) == score(
        images, captions, caption_image_index
    )


def test_hand_made_example():
    images = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])  # image 2 duplicates image 0
    captions = np.array([[2.0, 0.0], [0.0, 1.0], [0.0, 3.0], [1.0, 1.0], [0.0, 0.0]])
    caption_image_index = np.array([0, 0, 1, 2, 1])
    # Cosines (images x captions):
    #   image 0: 1, 0, 0, 0.707, 0
    #   image 1: 0, 1, 1, 0.707, 0
    #   image 2: 1, 0, 0, 0.707, 0
    # Search: caption 0 ties with duplicate image 2 -> 2; caption 1 scores 0, as do the
    # others -> 3; caption 2 -> 1; caption 3 ties with both others -> 3; the zero caption
    # scores 0 with everything -> 3.
    # Annotation: image 0's best own score is 1, no other caption reaches it -> 1; image 1's
    # best own is 1, caption 1 (of image 0) ties -> 2; image 2's own 0.707 is beaten by
    # caption 0 -> 2.
    search_ranks, annotation_ranks = ranks(images, captions, caption_image_index)
    np.testing.assert_array_equal(search_ranks, [2, 3, 1, 3, 3])
    np.testing.assert_array_equal(annotation_ranks, [1, 2, 2])

    metrics = score(images, captions, caption_image_index, ks=(1, 2))

    assert_metrics_close(
        metrics,
        {
            "image_search": {"R_at_1": 20.0, "R_at_2": 40.0, "median_rank": 3.0, "mean_rank": 2.4},
            "image_annotation": {
                "R_at_1": 100 / 3,
                "R_at_2": 100.0,
                "median_rank": 2.0,
                "mean_rank": 5 / 3,
            },
        },
    )


def test_a_tie_with_the_true_item_counts_against_the_query():
    images = np.array([[1.0, 0.0], [1.0, 0.0]])
    captions = np.array([[1.0, 0.0], [3.0, 0.0]])
    search_ranks, annotation_ranks = ranks(images, captions, np.array([0, 1]))
    np.testing.assert_array_equal(search_ranks, [2, 2])
    np.testing.assert_array_equal(annotation_ranks, [2, 2])


def test_recall_at_k():
    assert recall_at_k(np.array([1, 2, 5, 11]), 5) == 75.0
    assert recall_at_k(np.array([1, 2, 5, 11]), 1) == 25.0


@pytest.mark.parametrize(
    ("images", "captions", "caption_image_index", "message"),
    [
        (np.ones((2, 3)), np.ones((2, 4)), [0, 1], "dimension 3 but caption_embeddings 4"),
        (np.ones((2, 3)), np.ones((3, 3)), [0, 1], "2 entries but there are 3 caption"),
        (np.ones((2, 3)), np.ones((2, 3)), [0, 2], r"in 0\.\.1"),
        (np.ones((2, 3)), np.ones((2, 3)), [0.0, 1.0], "integer"),
        (np.ones((5, 3)), np.ones((3, 3)), [0, 1, 1], "3 of 5 images have no caption"),
        (np.full((2, 3), np.nan), np.ones((2, 3)), [0, 1], "image_embeddings contains NaN"),
        (np.ones(3), np.ones((2, 3)), [0, 1], "2-D"),
    ],
)
def test_invalid_inputs(images, captions, caption_image_index, message):
    with pytest.raises(ValueError, match=message):
        score(images, captions, caption_image_index)


def test_invalid_ks_and_budget():
    images, captions, caption_image_index = np.eye(2), np.eye(2), [0, 1]
    with pytest.raises(ValueError, match="positive integer"):
        score(images, captions, caption_image_index, ks=(0, 5))
    with pytest.raises(ValueError, match="memory_budget_mb must be > 0"):
        score(images, captions, caption_image_index, memory_budget_mb=0)


@pytest.mark.parametrize("budget_bytes", [1, 3000, 10_000, 256 * 2**20])
def test_exact_ties_of_real_valued_duplicates_in_any_chunking(budget_bytes):
    """Duplicates of real-valued vectors tie exactly, whatever block their scores come from."""
    rng = np.random.default_rng(30)
    images = rng.normal(size=(25, 7))
    images[3] = images[8]
    captions = rng.normal(size=(80, 7))
    caption_image_index = np.concatenate([np.arange(25), rng.integers(0, 25, size=55)])
    captions[40:60] = captions[rng.integers(0, 40, size=20)]  # captions repeated elsewhere
    expected = brute_force_ranks(images, captions, caption_image_index)

    chunked = ranks(images, captions, caption_image_index, memory_budget_mb=budget_bytes / 2**20)

    for actual, wanted in zip(chunked, expected, strict=True):
        np.testing.assert_array_equal(actual, wanted)


@pytest.mark.parametrize(
    ("index", "message"),
    [
        (np.zeros(3, dtype=int), "caption_image_index has 3 entries but there are 4 captions"),
        (np.array([0, 1, 2, 9]), r"caption_image_index values must be image rows in 0\.\.2"),
        (np.zeros(4), "caption_image_index must be a 1-D integer array"),
    ],
)
def test_caption_image_index_is_checked_as_cca_checks_it(index, message):
    """One check, shared with CCA.fit, which words it with its own argument's name."""
    from tie.joint.cca import CCA

    images, captions = np.eye(3), np.eye(3)[[0, 1, 2, 2]]
    with pytest.raises(ValueError, match=message):
        score(images, captions, index)
    with pytest.raises(ValueError, match=message.replace("caption_image_index", "image_index")):
        CCA(n_components=2).fit(images, captions, image_index=index)


def test_metrics_have_fixed_decimals_and_counts_are_integers():
    """No float noise (70.39999999999999) in any file: 4 decimals, integer counts."""
    search = np.array([1, 2, 11] * 41 + [3, 60])  # 125 queries
    annotation = np.array([1, 1, 7])  # 3 queries: R@K = 33.33...
    metrics = metrics_from_ranks(search, annotation, (1, 5, 10))
    assert metrics["image_annotation"]["R_at_1"] == 66.6667
    assert metrics["image_annotation"]["R_at_5"] == 66.6667
    assert metrics["image_annotation"]["mean_rank"] == 3.0
    assert metrics["image_search"]["R_at_10"] == round(100 * 83 / 125, 4) == 66.4
    for values in metrics.values():
        for value in values.values():
            assert repr(value) == repr(round(value, METRIC_DECIMALS))
    counts = protocol_counts(np.int64(1000), 5000.0)
    assert counts["image_search"] == {"n_queries": 5000, "n_candidates": 1000}
    assert all(type(v) is int for d in counts.values() for v in d.values())


def test_rounding_keeps_every_recall_count_apart():
    """With 4 decimals two different hit counts of up to 10^6 queries never round alike."""
    for n in (1000, 5000, 25_000, 999_999):
        hits = np.arange(n + 1)
        percents = np.round(100 * hits / n, METRIC_DECIMALS)
        assert len(np.unique(percents)) == n + 1
