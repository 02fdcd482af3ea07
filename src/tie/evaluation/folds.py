"""Fold protocols: a test set scored in equal folds, the metrics averaged over the folds.

COCO papers report two protocols on the 5,000 Karpathy test images: the whole "5K" set
(the main metrics) and the "1K" protocol, five folds of 1,000 consecutive test images,
each scored on its own (queries and candidates from the fold only), the five results
averaged metric by metric.
"""

from __future__ import annotations

import numpy as np

from tie.joint.retrieval import metrics_from_ranks, rounded, score

# dataset -> (name of the protocol, number of folds) scored besides the whole test split
FOLD_PROTOCOLS = {"coco": ("coco_1k", 5)}


def score_folds(
    image_embeddings,
    caption_embeddings,
    caption_image_index,
    n_folds: int,
    ks=(1, 5, 10),
    memory_budget_mb=256,
    ranks_function=None,
) -> dict:
    """`retrieval.score` of each of `n_folds` consecutive, equal blocks of images, averaged.

    Images are cut in order (fold f holds images f*n/n_folds .. (f+1)*n/n_folds - 1) with
    their own captions. The number of images must be a multiple of `n_folds`. With
    `ranks_function` ((images, captions, caption_image_index) -> (search ranks, annotation
    ranks), `tie.evaluation.scoring.ranks_function`), each fold is ranked by it instead of
    by cosine.
    """
    images = np.asarray(image_embeddings)
    captions = np.asarray(caption_embeddings)
    caption_image_index = np.asarray(caption_image_index)
    n_images = len(images)
    if n_folds < 1 or n_images % n_folds:
        raise ValueError(f"cannot cut {n_images} images into {n_folds} equal folds")
    fold_size = n_images // n_folds
    per_fold = []
    for fold in range(n_folds):
        start = fold * fold_size
        in_fold = (caption_image_index >= start) & (caption_image_index < start + fold_size)
        fold_images = images[start : start + fold_size]
        fold_index = caption_image_index[in_fold] - start
        if ranks_function is None:
            fold = score(fold_images, captions[in_fold], fold_index, ks, memory_budget_mb)
        else:
            fold = metrics_from_ranks(
                *ranks_function(fold_images, captions[in_fold], fold_index), ks
            )
        per_fold.append(fold)
    return {
        direction: {
            name: rounded(np.mean([metrics[direction][name] for metrics in per_fold]))
            for name in values
        }
        for direction, values in per_fold[0].items()
    }
