"""Bidirectional image-caption retrieval metrics, by cosine similarity.

- Image search: every caption queries all images; its rank is that of its own image.
- Image annotation: every image queries all captions; its rank is that of the first of
  its own captions.

A tie counts against the query: rank = 1 + the number of other candidates whose score is
>= the score of the true one (for annotation, >= the best score among the image's own
captions, counting only captions of other images). A zero vector has similarity 0 with
everything.

Similarities are computed in float64, once each, in blocks of captions x all images, so
that memory stays within `memory_budget_mb` however many images and captions there are.
"""

from __future__ import annotations

import numpy as np

from tie.corpus.pairs import check_image_index
from tie.features.rows import unit_rows

# Decimals of every metric written or shown (metrics files, MLflow, reports). R@K is a
# percentage of queries, 100 c / n: for fewer than 10^6 queries two different counts c
# stay apart at 4 decimals, so nothing is lost; a median rank is a whole or half number,
# exact; a mean rank is within 5e-5 of its exact value. Rounding here, once, also keeps
# float noise (70.39999999999999) out of every file and display.
METRIC_DECIMALS = 4

# The two directions, as the metrics file names them (`metrics_from_ranks`' keys).
DIRECTIONS = ("image_search", "image_annotation")

# Bytes per element of a block of similarities: the float64 score and at most three
# boolean comparison results alive at once.
_BYTES_PER_SCORE = np.dtype(np.float64).itemsize + 3 * np.dtype(np.bool_).itemsize


RSUM_KS = (1, 5, 10)  # rsum: R@1 + R@5 + R@10 of both directions (0-600)


def rsum(search_ranks, annotation_ranks) -> float:
    """R@1 + R@5 + R@10 of image search and image annotation, in percent (0-600)."""
    total = sum(
        100.0 * np.mean(np.asarray(r) <= k)
        for r in (search_ranks, annotation_ranks)
        for k in RSUM_KS
    )
    return rounded(total)


def score(
    image_embeddings, caption_embeddings, caption_image_index, ks=(1, 5, 10), memory_budget_mb=256
):
    """Retrieval metrics in both directions.

    Parameters
    ----------
    image_embeddings : array-like of shape (n_images, d)
    caption_embeddings : array-like of shape (n_captions, d)
    caption_image_index : array-like of int, shape (n_captions,)
        For every caption, the row of its image in `image_embeddings`. Every image needs
        at least one caption.
    ks : sequence of int
        Cut-offs for the recall metrics R_at_<k>.
    memory_budget_mb : float
        Upper bound on the memory of one chunk of similarities.

    Returns
    -------
    dict
        {"image_search": {...}, "image_annotation": {...}}, each with "R_at_<k>" for every
        k in `ks` (percent, 0-100), "median_rank" and "mean_rank", as Python floats
        rounded to `METRIC_DECIMALS` decimals.
    """
    search_ranks, annotation_ranks = ranks(
        image_embeddings, caption_embeddings, caption_image_index, memory_budget_mb
    )
    return metrics_from_ranks(search_ranks, annotation_ranks, ks)


def metrics_from_ranks(search_ranks, annotation_ranks, ks=(1, 5, 10)):
    """The dict `score` returns, from ranks already computed by `ranks`."""
    ks = tuple(ks)
    for k in ks:
        if not (isinstance(k, int | np.integer) and k >= 1):
            raise ValueError(f"every k in ks must be a positive integer, got {k!r}")
    summaries = (_summary(search_ranks, ks), _summary(annotation_ranks, ks))
    return dict(zip(DIRECTIONS, summaries, strict=True))


def protocol_counts(n_images: int, n_captions: int) -> dict:
    """Queries and candidates of each direction: what the metrics were computed over.

    Merged into the metrics file beside the five metrics, so that numbers are compared only
    with numbers of the same protocol (e.g. Flickr8k's 1,000 test images, 5,000 captions).
    Counts are integers, written as such.
    """
    n_images, n_captions = int(n_images), int(n_captions)
    return {
        "image_search": {"n_queries": n_captions, "n_candidates": n_images},
        "image_annotation": {"n_queries": n_images, "n_candidates": n_captions},
    }


def ranks(image_embeddings, caption_embeddings, caption_image_index, memory_budget_mb=256):
    """1-based ranks of the true items: (search_ranks per caption, annotation_ranks per image)."""
    images = _as_unit_rows(image_embeddings, "image_embeddings")
    captions = _as_unit_rows(caption_embeddings, "caption_embeddings")
    if images.shape[1] != captions.shape[1]:
        raise ValueError(
            f"image_embeddings have dimension {images.shape[1]} but caption_embeddings "
            f"{captions.shape[1]}; embed both with the same model"
        )
    caption_image_index = _as_caption_image_index(
        caption_image_index, n_captions=len(captions), n_images=len(images)
    )
    if not memory_budget_mb > 0:
        raise ValueError(f"memory_budget_mb must be > 0, got {memory_budget_mb!r}")
    budget_bytes = memory_budget_mb * 2**20
    return _ranks_both_ways(images, captions, caption_image_index, budget_bytes)


def recall_at_k(ranks, k):
    """Percentage (0-100) of queries whose true item is ranked k or better (unrounded)."""
    return float(100.0 * np.mean(np.asarray(ranks) <= k))


def rounded(value: float) -> float:
    """A metric at the precision every file and display uses (`METRIC_DECIMALS`)."""
    return round(float(value), METRIC_DECIMALS) + 0.0  # + 0.0: never -0.0


def _chunk_rows(n_columns, budget_bytes):
    """How many query rows fit in the budget, each row of the block holding n_columns scores.

    At least one row, so that a tiny budget still computes (slowly) rather than failing.
    """
    return max(1, int(budget_bytes // (n_columns * _BYTES_PER_SCORE)))


def _ranks_both_ways(images, captions, caption_image_index, budget_bytes):
    """Search and annotation ranks from one pass over blocks of (captions x all images).

    Each similarity is computed once, by one matrix product per block, and serves both
    directions. Search needs only the block's own row. Annotation compares every caption
    with the best score among the image's own captions, which is known only once every
    block has been seen; it is estimated first, from the own pairs' dot products, and
    captions whose score lies within rounding of the estimate are kept (a few per image)
    and compared with the exact best at the end. So every comparison is between scores of
    the blocks themselves, and ties are decided exactly as the tie rule above says.
    """
    n_images, n_captions = len(images), len(captions)
    own_estimate = np.einsum("ij,ij->i", captions, images[caption_image_index])
    best_estimate = np.full(n_images, -np.inf)
    np.maximum.at(best_estimate, caption_image_index, own_estimate)
    # Two float64 computations of a dot product of unit vectors of dimension d differ by at
    # most 2 d eps (each is within d eps of the exact value): twice that, to be safe.
    rounding = 4 * max(1, images.shape[1]) * np.finfo(np.float64).eps
    lower, upper = best_estimate - rounding, best_estimate + rounding

    search_ranks = np.empty(n_captions, dtype=np.int64)
    own_scores = np.empty(n_captions)
    above_upper = np.zeros(n_images, dtype=np.int64)  # captions surely >= the best own
    near_images, near_scores = [], []  # captions within rounding of the best own
    step = _chunk_rows(n_images, budget_bytes)
    for start in range(0, n_captions, step):
        stop = min(start + step, n_captions)
        scores = captions[start:stop] @ images.T  # (chunk of captions, images)
        true_scores = scores[np.arange(stop - start), caption_image_index[start:stop]]
        own_scores[start:stop] = true_scores
        # Counting >= includes the true image itself, which the rank's leading 1 stands for.
        search_ranks[start:stop] = np.count_nonzero(scores >= true_scores[:, None], axis=1)
        above_upper += np.count_nonzero(scores > upper, axis=0)
        rows, columns = np.nonzero((scores >= lower) & (scores <= upper))
        near_images.append(columns)
        near_scores.append(scores[rows, columns])

    best_own = np.full(n_images, -np.inf)
    np.maximum.at(best_own, caption_image_index, own_scores)
    near_images, near_scores = np.concatenate(near_images), np.concatenate(near_scores)
    near_at_least_best = np.bincount(
        near_images, weights=near_scores >= best_own[near_images], minlength=n_images
    )
    # Own captions lie below `upper`; those tying with the best are among the near ones.
    own_at_least_best = np.bincount(
        caption_image_index, weights=own_scores >= best_own[caption_image_index], minlength=n_images
    )
    # Captions of other images scoring >= the best own one.
    others_at_least_best = above_upper + (near_at_least_best - own_at_least_best).astype(np.int64)
    return search_ranks, 1 + others_at_least_best


def _summary(query_ranks, ks):
    metrics = {f"R_at_{k}": recall_at_k(query_ranks, k) for k in ks}
    metrics["median_rank"] = float(np.median(query_ranks))
    metrics["mean_rank"] = float(np.mean(query_ranks))
    return {name: rounded(value) for name, value in metrics.items()}


def _as_unit_rows(embeddings, name):
    """Rows scaled to unit L2 norm; zero rows stay zero, so their cosine with anything is 0."""
    matrix = np.asarray(embeddings, dtype=np.float64)
    if matrix.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows x dimensions), got {matrix.shape}")
    if len(matrix) == 0:
        raise ValueError(f"{name} is empty: there is nothing to retrieve")
    if not np.isfinite(matrix).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return unit_rows(matrix)


def _as_caption_image_index(caption_image_index, n_captions, n_images):
    index = check_image_index(caption_image_index, n_captions, n_images, "caption_image_index")
    captionless = int(np.sum(np.bincount(index, minlength=n_images) == 0))
    if captionless:
        raise ValueError(
            f"{captionless} of {n_images} images have no caption in caption_image_index; "
            "every image needs at least one caption, so drop captionless images first"
        )
    return index
